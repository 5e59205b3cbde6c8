// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

/// @title FeeMath
/// @notice Splits a job's fee between the model owner, the treasury, all stakers and the agreeing operators.
/// @dev Rounding rule: every percentage share rounds down; the operators' pot is what remains, split equally
/// (rounding down); the remainder of that split (< number of operators, in base units) goes to the treasury.
/// So the parts always sum to the fee exactly, and no caller gains from rounding.
library FeeMath {
    uint256 internal constant BPS = 10_000;

    struct Split {
        uint256 royalty;
        uint256 treasury;
        uint256 stakers;
        uint256 perOperator;
    }

    function split(uint256 fee, uint256 operators, uint256 royaltyBps, uint256 treasuryBps, uint256 stakersBps)
        internal
        pure
        returns (Split memory s)
    {
        // Bounds are enforced by governance setters: royaltyBps + treasuryBps + stakersBps <= BPS.
        s.royalty = fee * royaltyBps / BPS;
        s.treasury = fee * treasuryBps / BPS;
        s.stakers = fee * stakersBps / BPS;
        uint256 pot = fee - s.royalty - s.treasury - s.stakers;
        if (operators == 0) {
            s.treasury += pot;
            return s;
        }
        s.perOperator = pot / operators;
        s.treasury += pot - s.perOperator * operators;
    }
}
