// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

import {Math} from "@openzeppelin/contracts/utils/math/Math.sol";

/// @title BondingCurve
/// @notice The mint price of compute credits: a linear curve in the outstanding supply.
///
///     price(s) = base * (1 + s / scale)        staking-token base units per 1e18 credits, at supply s
///
/// Minting `n` credits at supply `s` costs the exact integral of the price over [s, s + n]:
///
///     cost(s, n) = base * n * (2 * scale + 2 * s + n) / (2 * scale * 1e18)
///
/// @dev Rounding: up (ceil), against the minter, so the staking tokens locked are never less than the exact
/// integral. Domain: s + n <= MAX_SUPPLY (2^96 - 1) and 1e18 <= scale <= 2^96, so n * (2 scale + 2 s + n)
/// < 2^96 * 2^99 = 2^195 never overflows; `mulDiv` keeps the product with `base` exact in 512 bits.
library BondingCurve {
    uint256 internal constant UNIT = 1e18;
    uint256 internal constant MAX_SUPPLY = type(uint96).max;

    /// @notice Cost in staking-token base units of minting `n` credits when `supply` are outstanding.
    function mintCost(uint256 supply, uint256 n, uint256 base, uint256 scale) internal pure returns (uint256) {
        // Callers keep supply + n <= MAX_SUPPLY and scale <= 2^96: the product is < 2^195 (see above).
        uint256 area = n * (2 * scale + 2 * supply + n);
        return Math.mulDiv(area, base, 2 * scale * UNIT, Math.Rounding.Ceil);
    }

    /// @notice The same integral rounded down: what burning the top `n` credits of `supply + n` may return at most.
    function mintCostFloor(uint256 supply, uint256 n, uint256 base, uint256 scale) internal pure returns (uint256) {
        uint256 area = n * (2 * scale + 2 * supply + n); // < 2^195, as above
        return Math.mulDiv(area, base, 2 * scale * UNIT);
    }

    /// @notice The marginal price (per 1e18 credits) at `supply`, rounded up like the cost.
    function spotPrice(uint256 supply, uint256 base, uint256 scale) internal pure returns (uint256) {
        return Math.mulDiv(base, scale + supply, scale, Math.Rounding.Ceil);
    }
}
