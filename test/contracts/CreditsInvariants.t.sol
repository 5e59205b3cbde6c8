// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

import {TestBase} from "./handlers/TestBase.sol";
import {CreditsHandler} from "./handlers/CreditsHandler.t.sol";

/// @notice Invariants of ComputeCredits wired to the real escrow under random sequences of holder, agent,
/// operator and keeper actions across UTC days.
/// hardhat-config: invariant.runs = 16
/// hardhat-config: invariant.depth = 60
contract CreditsInvariantsTest is TestBase {
    CreditsHandler internal handler;

    function setUp() public {
        handler = new CreditsHandler();
    }

    function targetContracts() public view returns (address[] memory targets) {
        targets = new address[](1);
        targets[0] = address(handler);
    }

    /// @notice Locked staking tokens == taken by mints - returned by burns; the balance held is exactly the lock
    /// plus what is unlocking.
    /// hardhat-config: invariant.runs = 16
    /// hardhat-config: invariant.depth = 60
    function invariant_lockedEqualsTakenMinusReturned() public view {
        assertEq(handler.credits().totalLocked(), handler.ghostTaken() - handler.ghostReturned(), "locked");
        assertEq(handler.credits().totalUnlocking(), handler.ghostReturned() - handler.ghostWithdrawn(), "unlocking");
        assertEq(
            handler.veil().balanceOf(address(handler.credits())),
            handler.credits().totalLocked() + handler.credits().totalUnlocking(),
            "VEIL held == locked + unlocking"
        );
        if (handler.credits().totalSupply() == 0) assertEq(handler.credits().totalLocked(), 0, "no supply, no lock");
    }

    /// @notice No holder spends more in a day than its 00:00 balance x rate; everyone together no more than the
    /// 00:00 supply x rate; no agent more than its cap.
    /// hardhat-config: invariant.runs = 16
    /// hardhat-config: invariant.depth = 60
    function invariant_dailySpendWithinCheckpointedCredits() public view {
        assertTrue(!handler.ghostOverspent(), "holder overspent its day");
        assertTrue(!handler.ghostAgentOverCap(), "agent over its cap");
        assertLe(handler.ghostSpentToday(), handler.ghostSupplyAtStart() * 200_000 / 1e18, "day total");
    }

    /// @notice The pool never pays out more than it received: balance == funded + reclaimed - paid.
    /// hardhat-config: invariant.runs = 16
    /// hardhat-config: invariant.depth = 60
    function invariant_poolNeverPaysMoreThanItHolds() public view {
        uint256 pool = handler.usdc().balanceOf(address(handler.credits()));
        assertEq(pool, handler.ghostFunded() + handler.ghostReclaimed() - handler.ghostPaid(), "pool accounting");
        assertEq(handler.credits().poolBalance(), pool, "view");
    }

    /// @notice A matured unlock is always withdrawable in full, an unmatured one never.
    /// hardhat-config: invariant.runs = 16
    /// hardhat-config: invariant.depth = 60
    function invariant_unlocksOnlyAfterCooldown() public view {
        assertTrue(!handler.ghostEarlyWithdraw(), "withdrawal out of schedule");
    }
}
