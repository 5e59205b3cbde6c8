// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

import {AccessManager} from "@openzeppelin/contracts/access/manager/AccessManager.sol";
import {IAccessManaged} from "@openzeppelin/contracts/access/manager/IAccessManaged.sol";
import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {Math} from "@openzeppelin/contracts/utils/math/Math.sol";
import {ComputeCredits} from "../../contracts/ComputeCredits.sol";
import {VeilToken} from "../../contracts/VeilToken.sol";
import {MockUSDC} from "../../contracts/mocks/MockUSDC.sol";
import {IComputeCredits} from "../../contracts/interfaces/IComputeCredits.sol";
import {IJobEscrow, IVeilEscrow} from "../../contracts/interfaces/IJobEscrow.sol";
import {IModelRegistry} from "../../contracts/interfaces/IModelRegistry.sol";
import {BondingCurve} from "../../contracts/libraries/BondingCurve.sol";
import {TestBase} from "./handlers/TestBase.sol";

/// @notice Unit and fuzz tests of the credit curve, burns, cooldowns and the daily allowance meter. Jobs paid
/// by allowance run through the real escrow in credits.test.ts and CreditsInvariants.t.sol.
contract CreditsTest is TestBase {
    uint256 internal constant BASE = 100e18;
    uint256 internal constant SCALE = 100_000e18;
    uint256 internal constant RATE = 1e6;
    uint256 internal constant DELAY = 7 days;

    AccessManager internal manager;
    VeilToken internal veil;
    MockUSDC internal usdc;
    ComputeCredits internal credits;
    address internal alice = address(0xA11CE);
    address internal bob = address(0xB0B);
    address internal carol = address(0xCA201);

    function setUp() public {
        vm.warp(1_800_000_000); // some time in 2027
        manager = new AccessManager(address(this));
        veil = new VeilToken(address(this), 1e30);
        usdc = new MockUSDC();
        // No escrow here: an address whose `ledger()` names a ledger address (the pool approves it once).
        vm.mockCall(address(0xE5C), abi.encodeWithSelector(IJobEscrow.ledger.selector), abi.encode(address(0x1ED6)));
        credits = new ComputeCredits(
            address(manager),
            IVeilEscrow(address(0xE5C)),
            veil,
            IERC20(address(usdc)),
            IModelRegistry(address(0x4E6)),
            IComputeCredits.CurveParams(uint128(BASE), uint128(SCALE)),
            RATE,
            DELAY
        );
        address[3] memory users = [alice, bob, carol];
        for (uint256 i; i < 3; ++i) {
            veil.transfer(users[i], 1e29);
            vm.prank(users[i]);
            veil.approve(address(credits), type(uint256).max);
        }
    }

    function _mint(address who, uint256 n) internal returns (uint256 cost) {
        vm.prank(who);
        cost = credits.mint(n, type(uint256).max);
    }

    function _nextDay() internal {
        vm.warp(credits.nextReset() + 1);
    }

    // ---------------------------------------------------------------- curve

    function test_mintCost_matchesClosedForm() public view {
        // 1 credit at zero supply: base * (1 + 1 / (2 * 100_000)) = 100.0005 VEIL.
        assertEq(credits.mintCost(1e18), 100.0005e18, "first credit");
        // 100k credits: base * 100k * 1.5.
        assertEq(credits.mintCost(100_000e18), 15_000_000e18, "to the doubling point");
    }

    /// @notice Cost is the exact integral rounded up: within one base unit above the floor, never below it.
    /// hardhat-config: fuzz.runs = 256
    function testFuzz_mintCost_roundsUpAgainstMinter(uint256 s, uint256 n, uint256 base, uint256 scale) public pure {
        scale = bound(scale, 1e18, 2 ** 96);
        base = bound(base, 1, 1e36);
        s = bound(s, 0, BondingCurve.MAX_SUPPLY - 1);
        n = bound(n, 1, BondingCurve.MAX_SUPPLY - s);
        uint256 cost = BondingCurve.mintCost(s, n, base, scale);
        uint256 area = n * (2 * scale + 2 * s + n);
        uint256 floor = Math.mulDiv(area, base, 2 * scale * 1e18);
        assertTrue(cost == floor || cost == floor + 1, "ceil of the exact integral");
        if (mulmod(area, base, 2 * scale * 1e18) != 0) assertEq(cost, floor + 1, "inexact rounds up");
        // Never cheaper than the flat base price (the curve only rises).
        assertLe(Math.mulDiv(n, base, 1e18), cost, "at least base * n");
    }

    /// @notice More supply outstanding, higher cost; splitting a mint never saves anything.
    /// hardhat-config: fuzz.runs = 256
    function testFuzz_mintCost_monotoneInSupplyAndNoSplitGain(uint256 s, uint256 d, uint256 a, uint256 b) public pure {
        s = bound(s, 0, 2 ** 90);
        d = bound(d, 0, 2 ** 90);
        a = bound(a, 1, 2 ** 90);
        b = bound(b, 1, 2 ** 90);
        uint256 c0 = BondingCurve.mintCost(s, a, BASE, SCALE);
        assertLe(c0, BondingCurve.mintCost(s + d, a, BASE, SCALE), "monotone in supply");
        uint256 split = c0 + BondingCurve.mintCost(s + a, b, BASE, SCALE);
        assertLe(BondingCurve.mintCost(s, a + b, BASE, SCALE), split, "splitting never saves");
    }

    function test_mint_supplyCap() public {
        uint256 cap = BondingCurve.MAX_SUPPLY;
        vm.prank(alice);
        vm.expectRevert(abi.encodeWithSelector(IComputeCredits.ComputeCreditsSupplyCap.selector, cap + 1, cap));
        credits.mint(cap + 1, type(uint256).max);
    }

    // ---------------------------------------------------------------- burn

    /// @notice A mint followed by a burn never returns more than it cost; no burn returns more than is locked;
    /// locked stake == taken by mints - returned by burns.
    /// hardhat-config: fuzz.runs = 128
    function testFuzz_burn_neverProfitsNeverExceedsLocked(uint256 a, uint256 b, uint256 c, bool bobExitsFirst) public {
        a = bound(a, 1, 1e24);
        b = bound(b, 1, 1e24);
        c = bound(c, 1, 1e24);
        uint256 taken = _mint(alice, a);
        taken += _mint(bob, b);
        uint256 carolCost = _mint(carol, c);
        taken += carolCost;
        vm.prank(carol);
        (uint256 carolBack,) = credits.burn(c, 0);
        assertLe(carolBack, carolCost, "mint then burn never profits");
        uint256 returned = carolBack;
        (address first, uint256 nFirst, address second, uint256 nSecond) =
            bobExitsFirst ? (bob, b, alice, a) : (alice, a, bob, b);
        vm.prank(first);
        (uint256 r1,) = credits.burn(nFirst, 0);
        returned += r1;
        assertEq(credits.totalLocked(), taken - returned, "locked == taken - returned");
        vm.prank(second);
        (uint256 r2,) = credits.burn(nSecond, 0);
        returned += r2;
        assertEq(returned, taken, "the last burn empties the lock exactly");
        assertEq(credits.totalLocked(), 0, "nothing locked");
        assertEq(veil.balanceOf(address(credits)), credits.totalUnlocking(), "all of it is unlocking");
    }

    /// @notice After governance lowers the curve, a new minter cannot burn its way into the older, pricier lock.
    /// hardhat-config: fuzz.runs = 64
    function testFuzz_burn_loweredCurveRoundTripDoesNotGain(uint256 a, uint256 c, uint256 newBase) public {
        a = bound(a, 1e18, 1e24);
        c = bound(c, 1, 1e24);
        newBase = bound(newBase, 1, BASE);
        _mint(alice, a);
        credits.setCurve(IComputeCredits.CurveParams(uint128(newBase), uint128(SCALE)));
        uint256 cost = _mint(carol, c);
        vm.prank(carol);
        (uint256 back,) = credits.burn(c, 0);
        assertLe(back, cost, "round trip never gains");
    }

    /// @notice Nothing is withdrawable a second before the cooldown ends; all of it is at the second it ends.
    /// hardhat-config: fuzz.runs = 64
    function testFuzz_withdrawUnlocked_onlyAfterCooldown(uint256 wait) public {
        _mint(alice, 5e18);
        vm.prank(alice);
        (uint256 back, uint64 unlockTime) = credits.burn(2e18, 0);
        assertEq(unlockTime, block.timestamp + DELAY, "unlock time");
        wait = bound(wait, 0, DELAY - 1);
        vm.warp(block.timestamp + wait);
        vm.prank(alice);
        vm.expectRevert(
            abi.encodeWithSelector(
                IComputeCredits.ComputeCreditsNothingUnlocked.selector, alice, uint256(unlockTime), block.timestamp
            )
        );
        credits.withdrawUnlocked(alice);
        vm.warp(unlockTime);
        uint256 before = veil.balanceOf(bob);
        vm.prank(alice);
        assertEq(credits.withdrawUnlocked(bob), back, "withdrawn");
        assertEq(veil.balanceOf(bob) - before, back, "sent to `to`");
    }

    /// @notice A lowered cooldown does not shorten requests already made; the withdrawal skips unmatured ones.
    function test_withdrawUnlocked_keepsUnmaturedRequests() public {
        _mint(alice, 5e18);
        vm.prank(alice);
        (uint256 first,) = credits.burn(1e18, 0);
        credits.setUnlockDelay(1 days); // the test contract is the manager's admin
        vm.prank(alice);
        (uint256 second, uint64 t2) = credits.burn(1e18, 0);
        vm.warp(t2);
        vm.prank(alice);
        assertEq(credits.withdrawUnlocked(alice), second, "only the matured one");
        assertEq(credits.unlocksOf(alice).length, 1, "one left");
        assertEq(credits.unlocksOf(alice)[0].amount, first, "the first request stays");
    }

    // ---------------------------------------------------------------- allowance

    /// @notice Credits passed around within a day never add allowance: the allowance left across all holders
    /// is at most the supply at 00:00 times the rate, whatever the transfers.
    /// hardhat-config: fuzz.runs = 128
    function testFuzz_allowance_transfersWithinADay(uint256[8] calldata moves, uint256 a, uint256 b) public {
        a = bound(a, 1e18, 1e22);
        b = bound(b, 0, 1e22);
        _mint(alice, a);
        if (b != 0) _mint(bob, b);
        _nextDay();
        uint256 budget = credits.totalSupply() * RATE / 1e18;
        address[3] memory users = [alice, bob, carol];
        for (uint256 i; i < moves.length; ++i) {
            address from = users[moves[i] % 3];
            address to = users[(moves[i] >> 8) % 3];
            uint256 bal = credits.balanceOf(from);
            uint256 amount = bound(moves[i] >> 16, 0, bal);
            vm.prank(from);
            credits.transfer(to, amount);
            if ((moves[i] >> 200) % 4 == 0) _mint(users[(moves[i] >> 100) % 3], 1e18); // mid-day mint too
            uint256 left = credits.balanceOf(from);
            if ((moves[i] >> 210) % 4 == 0 && left != 0) {
                vm.prank(from);
                credits.burn(left, 0);
            }
        }
        uint256 total = credits.allowanceLeft(alice) + credits.allowanceLeft(bob) + credits.allowanceLeft(carol);
        assertLe(total, budget, "no allowance created within the day");
        assertEq(credits.allowanceLeft(alice), a * RATE / 1e18, "alice keeps her start-of-day allowance");
        assertEq(credits.allowanceLeft(carol), 0, "carol held nothing at 00:00");
    }

    function test_nextReset_isNextUtcMidnight() public {
        vm.warp(1_800_000_000); // 2027-01-15T08:00:00Z
        assertEq(credits.nextReset(), 1_800_057_600, "2027-01-16T00:00:00Z");
        vm.warp(1_800_057_599);
        assertEq(credits.nextReset(), 1_800_057_600, "one second before");
        vm.warp(1_800_057_600);
        assertEq(credits.nextReset(), 1_800_144_000, "at midnight the next one is a day later");
    }

    function test_allowance_lowerRateDuringTheDayCapsWhatIsLeft() public {
        _mint(alice, 2e18);
        _nextDay();
        assertEq(credits.allowanceLeft(alice), 2 * RATE, "two credits");
        credits.setAllowancePerCredit(RATE / 2);
        assertEq(credits.allowanceLeft(alice), RATE, "the new rate applies at once");
    }

    // ---------------------------------------------------------------- access

    /// @notice Every governance setter rejects any caller without the GOVERNOR role.
    /// hardhat-config: fuzz.runs = 64
    function testFuzz_setters_rejectRandomCallers(address caller) public {
        vm.assume(caller != address(this));
        bytes memory unauthorized = abi.encodeWithSelector(IAccessManaged.AccessManagedUnauthorized.selector, caller);
        vm.startPrank(caller);
        vm.expectRevert(unauthorized);
        credits.setCurve(IComputeCredits.CurveParams(1e18, 1e18));
        vm.expectRevert(unauthorized);
        credits.setAllowancePerCredit(1);
        vm.expectRevert(unauthorized);
        credits.setUnlockDelay(1 days);
        vm.expectRevert(unauthorized);
        credits.setPaused(0, true);
        vm.stopPrank();
    }
}
