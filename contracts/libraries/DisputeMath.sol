// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

/// @title DisputeMath
/// @notice How a resolved dispute's slashed stake and forfeited bond are shared out.
/// @dev Rounding rule: every percentage share rounds down, every per-head share rounds down, and whatever is
/// left (including the per-head remainders) goes to the treasury, so the parts always sum to the pool exactly
/// and no claimant gains from rounding.
library DisputeMath {
    uint256 internal constant BPS = 10_000;

    struct Rates {
        uint256 challengerBps;
        uint256 votersBps;
        uint256 bondToOperatorsBps;
    }

    struct Shares {
        uint256 challenger; // on top of the returned bond (right challenger only)
        uint256 perWinningOperator; // from a wrong challenger's bond
        uint256 perVoter; // each member that voted with the majority
        uint256 treasury; // the remainder
    }

    /// @param operatorSlashed stake slashed from operators whose result lost
    /// @param memberSlashed stake slashed from members that did not vote
    /// @param forfeitedBond the bond of a wrong challenger (zero otherwise)
    /// @param challengerRight whether a challenger is owed `challengerBps` of `operatorSlashed`
    /// @param winningOperators operators whose result won (receive the forfeited bond's share)
    /// @param voters members that voted with the majority (zero when undecided)
    function split(
        uint256 operatorSlashed,
        uint256 memberSlashed,
        uint256 forfeitedBond,
        bool challengerRight,
        uint256 winningOperators,
        uint256 voters,
        Rates memory r
    ) internal pure returns (Shares memory s) {
        uint256 pool = operatorSlashed + memberSlashed + forfeitedBond;
        // Bounds enforced by the setter: challengerBps + votersBps <= BPS and bondToOperatorsBps + votersBps <=
        // BPS; operatorSlashed <= pool and forfeitedBond <= pool, and only one of the two first terms is
        // nonzero (a challenger is either right or wrong), so the sum of the parts below never exceeds the pool.
        if (challengerRight) s.challenger = operatorSlashed * r.challengerBps / BPS;
        uint256 toOperators;
        if (forfeitedBond != 0 && winningOperators != 0) {
            s.perWinningOperator = forfeitedBond * r.bondToOperatorsBps / BPS / winningOperators;
            toOperators = s.perWinningOperator * winningOperators;
        }
        uint256 toVoters;
        if (voters != 0) {
            s.perVoter = pool * r.votersBps / BPS / voters;
            toVoters = s.perVoter * voters;
        }
        s.treasury = pool - s.challenger - toOperators - toVoters;
    }
}
