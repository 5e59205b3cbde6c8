// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

import {TestBase} from "./handlers/TestBase.sol";
import {EscrowHandler} from "./handlers/EscrowHandler.t.sol";

/// @notice Invariants of the deployed protocol under random sequences of every user, operator and keeper action.
/// hardhat-config: invariant.runs = 24
/// hardhat-config: invariant.depth = 60
contract EscrowInvariantsTest is TestBase {
    EscrowHandler internal handler;

    function setUp() public {
        handler = new EscrowHandler();
    }

    /// @dev Only the handler is fuzzed (the contracts it deployed are reached through it).
    function targetContracts() public view returns (address[] memory targets) {
        targets = new address[](1);
        targets[0] = address(handler);
    }

    /// @notice The escrow holds exactly every open job's fee plus every claimable balance.
    /// hardhat-config: invariant.runs = 24
    /// hardhat-config: invariant.depth = 60
    function invariant_feeTokenBalanceEqualsLiabilities() public view {
        uint256 balance = handler.usdc().balanceOf(address(handler.ledger()));
        assertEq(balance, handler.openEscrow() + handler.claimable(), "ledger balance == open + claimable");
        assertEq(balance, handler.ghostIn() - handler.ghostOut(), "ledger balance == in - out");
        assertEq(handler.usdc().balanceOf(address(handler.escrow())), 0, "the core holds no funds");
    }

    /// @notice Terms are frozen per job: whatever governance sets while jobs are open, the collateral locked is
    /// exactly what the open jobs' own terms lock, and once every job is terminal nothing stays locked.
    /// hardhat-config: invariant.runs = 24
    /// hardhat-config: invariant.depth = 60
    function invariant_lockedCollateralFollowsEachJobsTerms() public view {
        assertTrue(handler.lockedMatchesOpenJobs(), "locked == sum of open jobs' frozen collateral");
        if (handler.allTerminal()) assertTrue(handler.nothingLocked(), "every job terminal, something still locked");
    }

    /// hardhat-config: invariant.runs = 24
    /// hardhat-config: invariant.depth = 60
    function invariant_stakingTokenBalanceEqualsStakePlusUnbonding() public view {
        uint256 balance = handler.veil().balanceOf(address(handler.staking()));
        assertEq(balance, handler.stakedPlusUnbonding(), "staking balance == stake + unbonding");
        assertTrue(handler.lockedWithinStake(), "locked <= stake");
    }

    /// hardhat-config: invariant.runs = 24
    /// hardhat-config: invariant.depth = 60
    function invariant_stakerRewardsSolvent() public view {
        uint256 balance = handler.usdc().balanceOf(address(handler.staking()));
        assertLe(handler.pendingStakerRewards(), balance, "pending rewards <= fee token held by staking");
    }

    /// hardhat-config: invariant.runs = 24
    /// hardhat-config: invariant.depth = 60
    function invariant_noJobPaidTwiceAndNoneStuck() public view {
        assertTrue(!handler.ghostTerminalChanged(), "a settled job changed state");
        assertTrue(!handler.ghostStuck(), "a job past every window is not terminal");
    }

    /// hardhat-config: invariant.runs = 24
    /// hardhat-config: invariant.depth = 60
    function invariant_recordsRecycledOnlyAfterSettlement() public view {
        assertTrue(!handler.ghostIdReused(), "a job id was issued twice");
        assertTrue(!handler.ghostLiveRecycled(), "an open job's record was reused");
        assertTrue(!handler.ghostRecordShared(), "two open jobs share a record");
    }
}

/// @notice The handler's own flows, driven deterministically: proves each action does what it claims, so the
/// invariant campaign above explores real lifecycles and not only rejected calls.
contract EscrowHandlerTest is TestBase {
    EscrowHandler internal handler;

    function setUp() public {
        handler = new EscrowHandler();
    }

    function test_handler_k1SubmitPostFinalizeWithdraw() public {
        handler.submit(0, 0, 0, false);
        handler.act(0, true, 0);
        handler.warp(100);
        handler.finalizeMany(0);
        assertEq(handler.calls("finalized"), 1, "finalized once");
        handler.withdrawEarnings(0);
        handler.withdrawEarnings(1);
        handler.sweep(true);
        handler.sweep(false);
        _checkBooks();
    }

    /// @notice Issue 17, L-3: a treasury address the fee token blocks is not stuck: it pulls its share elsewhere.
    function test_handler_blockedTreasuryPullsItsShare() public {
        handler.submit(0, 0, 0, false);
        handler.act(0, true, 0);
        handler.warp(100);
        handler.finalizeMany(0);
        uint256 accrued = handler.ledger().treasuryAccrued();
        assertTrue(accrued != 0, "the treasury accrued its share");
        handler.blockTreasuryAndClaim(address(0x7EA6));
        assertEq(handler.calls("claimTreasury"), 1, "claimed");
        assertEq(handler.usdc().balanceOf(address(0x7EA6)), accrued, "paid where the treasury chose");
        assertEq(handler.ledger().treasuryAccrued(), 0, "nothing left accrued");
        _checkBooks();
    }

    function test_handler_settledRecordIsReused() public {
        handler.submit(0, 0, 0, false);
        handler.act(0, true, 0);
        handler.warp(100);
        handler.finalizeMany(0);
        handler.submit(1, 0, 0, false); // reuses the settled job's record
        assertEq(handler.calls("recycledSubmit"), 1, "the second job reused the first one's record");
        assertEq(uint64(handler.jobIds(1)), (uint256(1) << 32) | 1, "generation 1 of record 1");
        handler.act(0, true, 0);
        handler.warp(100);
        handler.poke(0);
        assertEq(uint8(handler.lastStatus(handler.jobIds(1))), 5, "the second job finalized in the reused record");
        assertTrue(!handler.ghostLiveRecycled() && !handler.ghostRecordShared(), "no record shared");
        _checkBooks();
    }

    function test_handler_k3CommitRevealFinalize() public {
        handler.submit(0, 2, 0, false);
        handler.act(0, true, 5); // 3 commits + 3 reveals
        assertEq(handler.calls("commit"), 3, "commits");
        assertEq(handler.calls("reveal"), 3, "reveals");
        handler.warp(100);
        handler.poke(0);
        assertEq(uint8(handler.lastStatus(handler.jobIds(0))), 5, "finalized");
        _checkBooks();
    }

    /// @notice The counterexample of issue 16 (M-3): submit, change the collateral, settle. Before terms were
    /// frozen the settlement released the new collateral, stranding (or over-releasing) the locked stake.
    function test_handler_collateralChangeWhileOpenReleasesWhatWasLocked() public {
        handler.submit(0, 2, 479, false); // k = 3 at 100 VEIL per slot
        handler.setTerms(3); // collateral 200 VEIL, other windows and shares
        assertTrue(handler.lockedMatchesOpenJobs(), "the open job still locks 100 per slot");
        handler.submit(1, 0, 479, false); // k = 1 under the new terms: 200 VEIL
        handler.act(0, true, 0);
        handler.act(1, true, 5);
        handler.settleAll();
        assertTrue(handler.allTerminal(), "all settled");
        assertTrue(handler.nothingLocked(), "nothing stays locked");
        _checkBooks();
    }

    function test_handler_missesAreSlashedAndSettled() public {
        handler.deposit(1, 1e9);
        handler.submit(1, 2, 479, true);
        handler.act(0, true, 1); // two commits, the third slot misses
        handler.settleAll();
        assertTrue(!handler.ghostStuck(), "terminal");
        handler.withdrawDeposit(1, type(uint256).max);
        handler.unbond(0, 1e18, false);
        _checkBooks();
    }

    function _checkBooks() internal view {
        uint256 balance = handler.usdc().balanceOf(address(handler.ledger()));
        assertEq(balance, handler.openEscrow() + handler.claimable(), "ledger balance == open + claimable");
        assertEq(balance, handler.ghostIn() - handler.ghostOut(), "ledger balance == in - out");
        assertTrue(handler.lockedMatchesOpenJobs(), "locked == open jobs' frozen collateral");
        assertEq(handler.veil().balanceOf(address(handler.staking())), handler.stakedPlusUnbonding(), "stake");
    }
}
