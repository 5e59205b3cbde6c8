// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

import {SortitionTree} from "../../contracts/libraries/SortitionTree.sol";
import {TestBase} from "./handlers/TestBase.sol";

/// @dev Exposes the library over one storage tree so reverts surface as external calls.
contract SortitionTreeHarness {
    using SortitionTree for SortitionTree.Tree;

    SortitionTree.Tree private _tree;

    function insert(address owner, uint256 weight) external {
        _tree.insert(owner, weight);
    }

    function remove(address owner) external {
        _tree.remove(owner);
    }

    function set(address owner, uint256 weight) external {
        _tree.set(owner, weight);
    }

    function draw(uint256 r) external view returns (address) {
        return _tree.draw(r);
    }

    function weightOf(address owner) external view returns (uint256) {
        return _tree.weightOf(owner);
    }

    /// @dev Sets `aside` aside (in order, duplicates included), then draws with `r`.
    function drawExcept(address[] calldata aside, uint256 r) external view returns (address) {
        SortitionTree.Aside memory a = SortitionTree.newAside(aside.length);
        for (uint256 i; i < aside.length; ++i) {
            _tree.setAside(a, aside[i]);
        }
        return _tree.drawExcept(a, r);
    }

    function contains(address owner) external view returns (bool) {
        return _tree.contains(owner);
    }

    function total() external view returns (uint256) {
        return _tree.total;
    }

    function members() external view returns (uint256) {
        return _tree.members;
    }

    function size() external view returns (uint256) {
        return _tree.size;
    }
}

contract SortitionTreeTest is TestBase {
    SortitionTreeHarness internal tree;

    function setUp() public {
        tree = new SortitionTreeHarness();
    }

    function _addr(uint256 i) internal pure returns (address) {
        return address(uint160(0x1000 + i));
    }

    function test_insert_revertsOnZeroWeight() public {
        vm.expectRevert(abi.encodeWithSelector(SortitionTree.SortitionTreeZeroWeight.selector, _addr(1)));
        tree.insert(_addr(1), 0);
    }

    function test_insert_revertsOnDuplicate() public {
        tree.insert(_addr(1), 5);
        vm.expectRevert(abi.encodeWithSelector(SortitionTree.SortitionTreeAlreadyMember.selector, _addr(1)));
        tree.insert(_addr(1), 7);
    }

    function test_remove_revertsForNonMember() public {
        vm.expectRevert(abi.encodeWithSelector(SortitionTree.SortitionTreeNotMember.selector, _addr(2)));
        tree.remove(_addr(2));
    }

    function test_draw_revertsWhenEmpty() public {
        vm.expectRevert(abi.encodeWithSelector(SortitionTree.SortitionTreeEmpty.selector));
        tree.draw(0);
        tree.insert(_addr(1), 3);
        tree.remove(_addr(1));
        vm.expectRevert(abi.encodeWithSelector(SortitionTree.SortitionTreeEmpty.selector));
        tree.draw(1);
    }

    function test_set_insertsUpdatesAndRemoves() public {
        tree.set(_addr(1), 0); // no-op for a non-member
        assertEq(tree.members(), 0, "members after zero set");
        tree.set(_addr(1), 10);
        assertEq(tree.weightOf(_addr(1)), 10, "inserted weight");
        tree.set(_addr(1), 25);
        assertEq(tree.weightOf(_addr(1)), 25, "increased weight");
        tree.set(_addr(1), 4);
        assertEq(tree.weightOf(_addr(1)), 4, "decreased weight");
        tree.set(_addr(1), 4);
        assertEq(tree.total(), 4, "unchanged weight");
        tree.set(_addr(1), 0);
        assertTrue(!tree.contains(_addr(1)), "removed");
        assertEq(tree.total(), 0, "total after removal");
        assertEq(tree.weightOf(_addr(1)), 0, "weight of a non-member");
    }

    function test_remove_leafIsReusedAndTreeDoesNotGrow() public {
        for (uint256 i = 1; i <= 5; ++i) tree.insert(_addr(i), i);
        tree.remove(_addr(2));
        tree.remove(_addr(4));
        tree.insert(_addr(9), 100);
        tree.insert(_addr(10), 200);
        assertEq(tree.size(), 5, "size stays at peak membership");
        assertEq(tree.members(), 5, "members");
        assertEq(tree.total(), 1 + 3 + 5 + 100 + 200, "total");
        assertEq(tree.weightOf(_addr(9)), 100, "reused leaf weight");
        assertEq(tree.weightOf(_addr(10)), 200, "reused leaf weight");
    }

    function test_draw_walksTheCumulativeLine() public {
        tree.insert(_addr(1), 3); // [0,3)
        tree.insert(_addr(2), 0 + 1); // [3,4)
        tree.insert(_addr(3), 6); // [4,10)
        assertEq(tree.draw(0), _addr(1), "r=0");
        assertEq(tree.draw(2), _addr(1), "r=2");
        assertEq(tree.draw(3), _addr(2), "r=3");
        assertEq(tree.draw(4), _addr(3), "r=4");
        assertEq(tree.draw(9), _addr(3), "r=9");
        assertEq(tree.draw(10), _addr(1), "r wraps modulo total");
    }

    /// @notice Insert n members with fuzzed weights, remove a fuzzed subset, re-insert some: the total always
    /// equals the sum of member weights, every weight reads back, and draws land only on non-zero members.
    /// hardhat-config: fuzz.runs = 128
    function testFuzz_insertRemoveReuse_totalsAndDraws(uint256 seed, uint8 n, uint32 removeMask) public {
        n = uint8(bound(n, 1, 24));
        uint256[] memory weights = new uint256[](n + 8);
        uint256 sum;
        for (uint256 i; i < n; ++i) {
            weights[i] = bound(uint256(keccak256(abi.encode(seed, i))), 1, type(uint96).max);
            tree.insert(_addr(i), weights[i]);
            sum += weights[i];
        }
        for (uint256 i; i < n; ++i) {
            if (removeMask & (1 << i) == 0) continue;
            tree.remove(_addr(i));
            sum -= weights[i];
            weights[i] = 0;
        }
        uint256 sizeBefore = tree.size();
        for (uint256 j; j < 8; ++j) {
            uint256 w = bound(uint256(keccak256(abi.encode(seed, "re", j))), 1, type(uint96).max);
            weights[n + j] = w;
            tree.insert(_addr(100 + j), w);
            sum += w;
        }
        uint256 members;
        for (uint256 i; i < n + 8; ++i) {
            address a = i < n ? _addr(i) : _addr(100 + i - n);
            assertEq(tree.weightOf(a), weights[i], "weight reads back");
            if (weights[i] != 0) ++members;
        }
        assertEq(tree.total(), sum, "total == sum of weights");
        assertEq(tree.members(), members, "members");
        uint256 removed = n - (members - 8);
        assertEq(tree.size(), sizeBefore + (8 > removed ? 8 - removed : 0), "free leaves reused first");
        for (uint256 d; d < 16; ++d) {
            address got = tree.draw(uint256(keccak256(abi.encode(seed, "draw", d))));
            assertTrue(tree.weightOf(got) != 0, "draw returns a weighted member");
        }
    }

    /// @notice Every point of the weight line maps to the member whose interval holds it: the number of
    /// points owned by each member equals its weight exactly (draw is proportional to weight).
    /// hardhat-config: fuzz.runs = 64
    function testFuzz_draw_exactlyProportional(uint256 seed) public {
        uint256 n = bound(seed, 2, 6);
        uint256[] memory weights = new uint256[](n);
        uint256 zeroAt = seed % n;
        for (uint256 i; i < n; ++i) {
            weights[i] = bound(uint256(keccak256(abi.encode(seed, i))), 1, 12);
            tree.insert(_addr(i), weights[i]);
        }
        tree.set(_addr(zeroAt), 0); // a removed member must never be drawn
        weights[zeroAt] = 0;
        uint256 total = tree.total();
        uint256[] memory hits = new uint256[](n);
        for (uint256 r; r < total; ++r) {
            address got = tree.draw(r + total * (seed % 5)); // any multiple of total maps the same
            uint256 idx = uint160(got) - 0x1000;
            assertLt(idx, n, "drawn address is a member");
            ++hits[idx];
        }
        for (uint256 i; i < n; ++i) assertEq(hits[i], weights[i], "points per member == weight");
    }

    /// @notice Sampling without replacement (issue 17, L-1): with any subset set aside (in any order, a member set
    /// aside twice, a non-member), walking every point of the remaining line hits each other member exactly its
    /// weight times and never a member set aside.
    /// hardhat-config: fuzz.runs = 128
    function testFuzz_drawExcept_exactlyProportionalAmongTheRest(uint256 seed, uint8 asideMask) public {
        uint256 n = bound(seed, 2, 8);
        uint256[] memory weights = new uint256[](n);
        for (uint256 i; i < n; ++i) {
            weights[i] = bound(uint256(keccak256(abi.encode(seed, i))), 1, 9);
            tree.insert(_addr(i), weights[i]);
        }
        if (uint256(asideMask) & ((1 << n) - 1) == (1 << n) - 1) asideMask &= ~uint8(1); // keep one member drawable
        address[] memory aside = new address[](n + 2);
        uint256 m;
        uint256 rest;
        // Set aside from the highest index down (the sorted insertion must handle any order), one twice.
        for (uint256 j = n; j > 0; --j) {
            uint256 i = j - 1;
            if (uint256(asideMask) & (1 << i) != 0) aside[m++] = _addr(i);
            else rest += weights[i];
        }
        if (m != 0) aside[m++] = aside[0]; // a duplicate changes nothing
        aside[m++] = _addr(99); // not a member: changes nothing
        assembly ("memory-safe") {
            mstore(aside, m)
        }
        uint256[] memory hits = new uint256[](n);
        for (uint256 r; r < rest; ++r) {
            address got = tree.drawExcept(aside, r + rest * (seed % 3));
            uint256 idx = uint160(got) - 0x1000;
            assertLt(idx, n, "drawn address is a member");
            assertTrue(uint256(asideMask) & (1 << idx) == 0, "a member set aside was drawn");
            ++hits[idx];
        }
        for (uint256 i; i < n; ++i) {
            assertEq(hits[i], uint256(asideMask) & (1 << i) == 0 ? weights[i] : 0, "points per member == weight");
        }
    }

    function test_drawExcept_emptyWhenEverythingIsAside() public {
        tree.insert(_addr(1), 5);
        address[] memory aside = new address[](1);
        aside[0] = _addr(1);
        vm.expectRevert(abi.encodeWithSelector(SortitionTree.SortitionTreeEmpty.selector));
        tree.drawExcept(aside, 0);
    }
}
