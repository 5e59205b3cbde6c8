// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

import {MockUSDC} from "./MockUSDC.sol";

/// @notice MockUSDC with USDC's blocklist: a blocked address can neither send nor receive. For tests of exits that
/// must not depend on a push to an address the token may refuse (the treasury's pull exit).
contract BlocklistUSDC is MockUSDC {
    mapping(address account => bool) public blocked;

    error BlocklistUSDCBlocked(address account);

    function setBlocked(address account, bool isBlocked) external {
        blocked[account] = isBlocked;
    }

    function _update(address from, address to, uint256 value) internal override {
        require(!blocked[from], BlocklistUSDCBlocked(from));
        require(!blocked[to], BlocklistUSDCBlocked(to));
        super._update(from, to, value);
    }
}
