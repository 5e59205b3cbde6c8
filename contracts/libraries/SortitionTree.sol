// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

/// @title SortitionTree
/// @notice Stake-weighted random selection in O(log n) gas: a Fenwick (binary indexed) tree of weights whose
/// size grows with the number of members. Removed members leave a zero leaf that the next insertion reuses,
/// so the tree never grows past the peak membership.
/// @dev Invariants: `total` equals the sum of all leaf weights; `nodes[i]` equals the sum of the weights of
/// leaves (i - lowbit(i), i]; `members` counts leaves with a non-zero weight.
library SortitionTree {
    struct Tree {
        uint32 size; // number of leaves ever allocated (1-based indices 1..size)
        uint32 members; // leaves with a non-zero weight
        uint192 total; // sum of all weights
        mapping(uint256 index => uint256) nodes;
        mapping(uint256 index => address) owners;
        mapping(address owner => uint256) indexOf; // 0 = not a member
        uint256[] free; // leaves released by removed members, reused first
    }

    error SortitionTreeZeroWeight(address owner);
    error SortitionTreeAlreadyMember(address owner);
    error SortitionTreeNotMember(address owner);
    error SortitionTreeEmpty();

    function contains(Tree storage self, address owner) internal view returns (bool) {
        return self.indexOf[owner] != 0;
    }

    /// @notice Weight of one leaf: prefix(i) - prefix(i - 1), computed in O(log n).
    function weightOf(Tree storage self, address owner) internal view returns (uint256) {
        uint256 i = self.indexOf[owner];
        if (i == 0) return 0;
        return _prefix(self, i) - _prefix(self, i - 1);
    }

    function insert(Tree storage self, address owner, uint256 weight) internal {
        require(weight != 0, SortitionTreeZeroWeight(owner));
        require(self.indexOf[owner] == 0, SortitionTreeAlreadyMember(owner));
        uint256 i;
        uint256 freeCount = self.free.length;
        if (freeCount != 0) {
            i = self.free[freeCount - 1];
            self.free.pop();
        } else {
            // Append a leaf: its node must already hold the sum of the range it covers, excluding itself.
            i = uint256(self.size) + 1;
            self.size = uint32(i);
            uint256 covered = _prefix(self, i - 1) - _prefix(self, i - (i & (~i + 1)));
            if (covered != 0) self.nodes[i] = covered;
        }
        self.owners[i] = owner;
        self.indexOf[owner] = i;
        self.members += 1;
        _increase(self, i, weight);
    }

    function remove(Tree storage self, address owner) internal {
        uint256 i = self.indexOf[owner];
        require(i != 0, SortitionTreeNotMember(owner));
        uint256 weight = _prefix(self, i) - _prefix(self, i - 1);
        _decrease(self, i, weight);
        delete self.owners[i];
        delete self.indexOf[owner];
        self.members -= 1;
        self.free.push(i);
    }

    /// @notice Sets a member's weight (insert, update or remove as needed).
    function set(Tree storage self, address owner, uint256 weight) internal {
        uint256 i = self.indexOf[owner];
        if (i == 0) {
            if (weight != 0) insert(self, owner, weight);
            return;
        }
        if (weight == 0) {
            remove(self, owner);
            return;
        }
        uint256 current = _prefix(self, i) - _prefix(self, i - 1);
        if (weight > current) _increase(self, i, weight - current);
        else if (weight < current) _decrease(self, i, current - weight);
    }

    /// @notice The member owning the point `r` of the cumulative weight line, for r in [0, total).
    /// @dev Classic Fenwick descent: O(log2(size)) storage reads.
    /// @notice Members set aside during one sampling without replacement (memory only): where each one's interval
    /// starts on the cumulative weight line and its weight, sorted by start, and their total weight.
    struct Aside {
        uint256[] start;
        uint256[] weight;
        uint256 n;
        uint256 total;
    }

    /// @notice An empty set of members set aside, for at most `capacity` of them.
    function newAside(uint256 capacity) internal pure returns (Aside memory a) {
        a.start = new uint256[](capacity);
        a.weight = new uint256[](capacity);
    }

    /// @notice Sets `owner` aside: later `drawExcept` calls never return it. No effect (false) when `owner` is not a
    /// member or already set aside. Two Fenwick prefix sums (one storage read per level each).
    function setAside(Tree storage self, Aside memory a, address owner) internal view returns (bool) {
        uint256 i = self.indexOf[owner];
        if (i == 0) return false;
        uint256 start = _prefix(self, i - 1);
        uint256 weight = _prefix(self, i) - start;
        uint256 n = a.n;
        uint256 at = n; // insertion point: keep `start` sorted
        for (uint256 j; j < n; ++j) {
            if (a.start[j] == start) return false; // members' intervals are disjoint and non-empty: same member
            if (a.start[j] > start) {
                at = j;
                break;
            }
        }
        for (uint256 j = n; j > at; --j) {
            a.start[j] = a.start[j - 1];
            a.weight[j] = a.weight[j - 1];
        }
        a.start[at] = start;
        a.weight[at] = weight;
        a.n = n + 1;
        a.total += weight;
        return true;
    }

    /// @notice Draws a member with probability exactly proportional to its weight among the members not set aside
    /// (`r` uniform): sampling without replacement, never a wasted draw on a member set aside. The point drawn on
    /// the line without the set-aside intervals is mapped onto the full line by skipping each of them in order.
    function drawExcept(Tree storage self, Aside memory a, uint256 r) internal view returns (address) {
        uint256 available = self.total - a.total;
        require(available != 0, SortitionTreeEmpty());
        uint256 x = r % available;
        for (uint256 j; j < a.n; ++j) {
            if (a.start[j] > x) break;
            x += a.weight[j];
        }
        return _find(self, x);
    }

    function draw(Tree storage self, uint256 r) internal view returns (address) {
        uint256 total = self.total;
        require(total != 0, SortitionTreeEmpty());
        return _find(self, r % total);
    }

    /// @dev The member whose interval on the cumulative weight line holds `r` (< total): one Fenwick descent.
    function _find(Tree storage self, uint256 r) private view returns (address) {
        uint256 size = self.size;
        uint256 pos;
        uint256 step = _highestPowerOfTwo(size);
        while (step != 0) {
            uint256 next = pos + step;
            if (next <= size) {
                uint256 node = self.nodes[next];
                if (node <= r) {
                    pos = next;
                    r -= node;
                }
            }
            step >>= 1;
        }
        return self.owners[pos + 1];
    }

    function _increase(Tree storage self, uint256 i, uint256 delta) private {
        self.total += uint192(delta);
        uint256 size = self.size;
        // unchecked: i <= size < 2^32, so i + lowbit(i) cannot overflow.
        unchecked {
            for (; i <= size; i += i & (~i + 1)) self.nodes[i] += delta;
        }
    }

    function _decrease(Tree storage self, uint256 i, uint256 delta) private {
        self.total -= uint192(delta);
        uint256 size = self.size;
        unchecked {
            for (; i <= size; i += i & (~i + 1)) self.nodes[i] -= delta;
        }
    }

    function _prefix(Tree storage self, uint256 i) private view returns (uint256 sum) {
        // unchecked: i - lowbit(i) never underflows and stops at 0.
        unchecked {
            for (; i != 0; i -= i & (~i + 1)) sum += self.nodes[i];
        }
    }

    function _highestPowerOfTwo(uint256 x) private pure returns (uint256 p) {
        if (x == 0) return 0;
        p = 1;
        while (p <= x >> 1) p <<= 1;
    }
}
