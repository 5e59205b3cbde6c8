// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

import {DisputeMath} from "../../contracts/libraries/DisputeMath.sol";
import {TestBase} from "./handlers/TestBase.sol";

contract DisputeMathTest is TestBase {
    uint256 private constant E18 = 1e18;

    function _rates() private pure returns (DisputeMath.Rates memory) {
        return DisputeMath.Rates(5_000, 2_000, 5_000);
    }

    function _sum(DisputeMath.Shares memory s, uint256 winners, uint256 voters) private pure returns (uint256) {
        return s.challenger + s.perWinningOperator * winners + s.perVoter * voters + s.treasury;
    }

    /// @notice Two colluding liars slashed 1,000 VEIL each, a right challenger, 5 majority voters.
    function test_split_rightChallenger() public pure {
        DisputeMath.Shares memory s = DisputeMath.split(2_000 * E18, 0, 0, true, 0, 5, _rates());
        assertEq(s.challenger, 1_000 * E18, "50% of the operators' slash");
        assertEq(s.perVoter, 80 * E18, "20% of the pool over 5");
        assertEq(s.treasury, 600 * E18, "rest");
    }

    /// @notice A wrong challenger's 100 VEIL bond: half to the one accused operator, 20% to 5 voters.
    function test_split_wrongChallenger() public pure {
        DisputeMath.Shares memory s = DisputeMath.split(0, 0, 100 * E18, false, 1, 5, _rates());
        assertEq(s.challenger, 0, "nothing for a wrong challenger");
        assertEq(s.perWinningOperator, 50 * E18, "half the bond");
        assertEq(s.perVoter, 4 * E18, "20% over 5");
        assertEq(s.treasury, 30 * E18, "rest");
    }

    function test_split_noDecisionAllToTreasury() public pure {
        DisputeMath.Shares memory s = DisputeMath.split(0, 30 * E18, 0, false, 0, 0, _rates());
        assertEq(s.treasury, 30 * E18, "non-voters' slash to the treasury");
    }

    /// @notice Parts sum to the pool exactly for any amounts and rates the setter allows; shares round down.
    /// hardhat-config: fuzz.runs = 512
    function testFuzz_split_conserves(
        uint96 operatorSlashed,
        uint96 memberSlashed,
        uint96 bond,
        bool challengerRight,
        uint256 winners,
        uint256 voters,
        uint256 challengerBps,
        uint256 votersBps,
        uint256 bondBps
    ) public pure {
        winners = bound(winners, 1, 7);
        voters = bound(voters, 0, 15);
        votersBps = bound(votersBps, 0, 10_000);
        challengerBps = bound(challengerBps, 0, 10_000 - votersBps);
        bondBps = bound(bondBps, 0, 10_000 - votersBps);
        // A challenger is either right (no forfeited bond) or wrong (no challenger share).
        uint256 forfeited = challengerRight ? 0 : bond;
        DisputeMath.Shares memory s = DisputeMath.split(
            operatorSlashed,
            memberSlashed,
            forfeited,
            challengerRight,
            winners,
            voters,
            DisputeMath.Rates(challengerBps, votersBps, bondBps)
        );
        uint256 pool = uint256(operatorSlashed) + memberSlashed + forfeited;
        assertEq(_sum(s, winners, voters), pool, "parts sum to the pool");
        assertLe(s.challenger, uint256(operatorSlashed) * challengerBps / 10_000, "challenger rounds down");
        if (voters != 0) assertLe(s.perVoter * voters, pool * votersBps / 10_000, "voters round down");
    }
}
