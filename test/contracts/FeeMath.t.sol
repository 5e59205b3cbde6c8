// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

import {FeeMath} from "../../contracts/libraries/FeeMath.sol";
import {TestBase} from "./handlers/TestBase.sol";

contract FeeMathTest is TestBase {
    function _sum(FeeMath.Split memory s, uint256 operators) internal pure returns (uint256) {
        return s.royalty + s.treasury + s.stakers + s.perOperator * operators;
    }

    function test_split_defaultParameters() public pure {
        FeeMath.Split memory s = FeeMath.split(150_000, 3, 1_000, 500, 500);
        assertEq(s.royalty, 15_000, "royalty");
        assertEq(s.stakers, 7_500, "stakers");
        assertEq(s.perOperator, 40_000, "per operator");
        assertEq(s.treasury, 7_500, "treasury");
    }

    function test_split_dustGoesToTreasury() public pure {
        FeeMath.Split memory s = FeeMath.split(100, 3, 0, 0, 0);
        assertEq(s.perOperator, 33, "per operator rounds down");
        assertEq(s.treasury, 1, "remainder to treasury");
    }

    function test_split_noOperatorsSendsPotToTreasury() public pure {
        FeeMath.Split memory s = FeeMath.split(1_000, 0, 1_000, 500, 500);
        assertEq(s.perOperator, 0, "no operator share");
        assertEq(s.treasury, 1_000 - 100 - 50, "treasury takes the pot");
        assertEq(_sum(s, 0), 1_000, "conserved");
    }

    function test_split_zeroFee() public pure {
        FeeMath.Split memory s = FeeMath.split(0, 3, 1_000, 500, 500);
        assertEq(_sum(s, 3), 0, "nothing from nothing");
    }

    /// @notice Parts sum to the fee exactly; the treasury's dust is below the operator count; each bps share
    /// rounds down (no caller gains from rounding).
    /// hardhat-config: fuzz.runs = 512
    function testFuzz_split_conservesAndRoundsDown(
        uint256 fee,
        uint256 operators,
        uint256 royaltyBps,
        uint256 treasuryBps,
        uint256 stakersBps
    ) public pure {
        fee = bound(fee, 0, uint256(type(uint80).max) * 7);
        operators = bound(operators, 0, 7);
        royaltyBps = bound(royaltyBps, 0, 10_000);
        treasuryBps = bound(treasuryBps, 0, 10_000 - royaltyBps);
        stakersBps = bound(stakersBps, 0, 10_000 - royaltyBps - treasuryBps);
        FeeMath.Split memory s = FeeMath.split(fee, operators, royaltyBps, treasuryBps, stakersBps);
        assertEq(_sum(s, operators), fee, "parts sum to the fee");
        assertEq(s.royalty, fee * royaltyBps / 10_000, "royalty rounds down");
        assertEq(s.stakers, fee * stakersBps / 10_000, "stakers round down");
        uint256 treasuryShare = fee * treasuryBps / 10_000;
        assertLe(treasuryShare, s.treasury, "treasury at least its share");
        if (operators != 0) {
            assertLt(s.treasury - treasuryShare, operators, "dust < operators");
            uint256 pot = fee - s.royalty - treasuryShare - s.stakers;
            assertEq(s.perOperator, pot / operators, "equal shares of the pot");
        }
    }
}
