// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

/// @title AllowanceMath
/// @notice Daily compute allowance of credit holders and their agents, metered per UTC day.
///
/// A day is `block.timestamp / 1 days` (Unix time is aligned to 00:00 UTC, so days reset at midnight UTC).
/// A holder's allowance for day d is `startBalance(d) * rate / 1e18`, where `startBalance(d)` is the credit
/// balance it held when day d began. The balance is checkpointed on the account's first touch in a day
/// (the token's `_update` hook calls `checkpoint` before moving any balance), so that value is the balance at
/// 00:00 UTC: credits received during a day earn nothing until the next day, and credits sent during a day
/// leave the sender's allowance for that day unchanged. Each credit is held by one account at 00:00, so the
/// allowances of a day sum to at most `totalSupply(at 00:00) * rate / 1e18`. Nothing rolls over.
library AllowanceMath {
    uint256 internal constant DAY = 1 days;
    uint256 internal constant UNIT = 1e18;

    /// @dev One slot per holder.
    struct Holder {
        uint32 day; // the day the fields below describe
        uint96 startBalance; // credits held at 00:00 UTC of `day`
        uint128 spent; // allowance spent during `day`, fee-token base units
    }

    /// @dev One slot per (holder, agent).
    struct Agent {
        uint96 dailyCap; // fee-token base units per day; 0 = not an agent
        uint32 day; // the day `spent` describes
        uint96 spent; // spent by this agent during `day`
    }

    function today() internal view returns (uint32) {
        // uint32 days from 1970 lasts 11 million years.
        return uint32(block.timestamp / DAY);
    }

    /// @notice The next 00:00 UTC.
    function nextReset() internal view returns (uint256) {
        return (block.timestamp / DAY + 1) * DAY;
    }

    /// @notice Allowance of `credits` at `rate` (fee units per 1e18 credits per day). Rounds down, against the holder.
    function allowanceOf(uint256 credits, uint256 rate) internal pure returns (uint256) {
        return credits * rate / UNIT;
    }

    /// @dev Starts a new day for `h` at its first touch in the day; `balance` must be the balance before any
    /// change in this call. A no-op after the first touch.
    function checkpoint(Holder storage h, uint256 balance) internal {
        uint32 d = today();
        if (h.day == d) return;
        h.day = d;
        h.startBalance = uint96(balance); // token supply is capped at 2^96 - 1
        h.spent = 0;
    }

    /// @notice What a holder can still spend today (read-only: an untouched day counts as fresh).
    function left(Holder memory h, uint256 balance, uint256 rate) internal view returns (uint256) {
        if (h.day != today()) return allowanceOf(balance, rate);
        uint256 total = allowanceOf(h.startBalance, rate);
        return total > h.spent ? total - h.spent : 0; // the rate may have been lowered during the day
    }

    /// @notice What an agent can still spend today under its own cap.
    function left(Agent memory a) internal view returns (uint256) {
        if (a.day != today()) return a.dailyCap;
        return a.dailyCap > a.spent ? a.dailyCap - a.spent : 0; // the cap may have been lowered during the day
    }
}
