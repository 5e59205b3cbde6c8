// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

import {ERC20} from "@openzeppelin/contracts/token/ERC20/ERC20.sol";

/// @notice A hostile fee token for tests: on its next transfer it calls `target` with `data` (a re-entry attempt,
/// as an ERC-777 hook or a malicious token would) and records the outcome. It can also act as an account itself.
contract CallbackERC20 is ERC20 {
    address public hookTarget;
    bytes public hookData;
    bool public hookCalled;
    bool public hookSucceeded;
    bytes public hookReturn;

    constructor() ERC20("Callback Token", "CBT") {}

    function mint(address to, uint256 amount) external {
        _mint(to, amount);
    }

    /// @notice Arms the hook for the next transfer only.
    function arm(address target, bytes calldata data) external {
        hookTarget = target;
        hookData = data;
        hookCalled = false;
    }

    /// @notice Calls `target` as this contract (to hold deposits or approve in tests); bubbles reverts.
    function execute(address target, bytes calldata data) external returns (bytes memory ret) {
        bool ok;
        (ok, ret) = target.call(data);
        if (!ok) {
            assembly ("memory-safe") {
                revert(add(ret, 32), mload(ret))
            }
        }
    }

    function _update(address from, address to, uint256 value) internal override {
        super._update(from, to, value);
        address target = hookTarget;
        if (target == address(0) || from == address(0)) return;
        hookTarget = address(0);
        hookCalled = true;
        (hookSucceeded, hookReturn) = target.call(hookData);
    }
}
