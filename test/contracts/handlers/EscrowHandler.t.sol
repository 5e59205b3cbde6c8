// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

import {AccessManager} from "@openzeppelin/contracts/access/manager/AccessManager.sol";
import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {JobEscrow} from "../../../contracts/JobEscrow.sol";
import {FeeLedger} from "../../../contracts/FeeLedger.sol";
import {JobId} from "../../../contracts/types/JobId.sol";
import {ISlashWindowSource} from "../../../contracts/interfaces/ISlashWindowSource.sol";
import {NodeStaking} from "../../../contracts/NodeStaking.sol";
import {ModelRegistry} from "../../../contracts/ModelRegistry.sol";
import {VeilToken} from "../../../contracts/VeilToken.sol";
import {MockUSDC} from "../../../contracts/mocks/MockUSDC.sol";
import {BlocklistUSDC} from "../../../contracts/mocks/BlocklistUSDC.sol";
import {IJobEscrow, IVeilEscrow} from "../../../contracts/interfaces/IJobEscrow.sol";
import {IModelRegistry} from "../../../contracts/interfaces/IModelRegistry.sol";
import {INodeStaking} from "../../../contracts/interfaces/INodeStaking.sol";
import {Vm} from "./TestBase.sol";

/// @notice Drives the real protocol (AccessManager, VeilToken, MockUSDC, ModelRegistry, NodeStaking, JobEscrow)
/// through random submissions, commits, reveals, misses, pokes, finalizations and withdrawals while warping
/// time, and keeps ghost totals for the invariant test. Actions never revert on purpose: a call the protocol
/// rejects is simply skipped (try/catch), so every run goes the full depth.
contract EscrowHandler {
    Vm internal constant vm = Vm(address(uint160(uint256(keccak256("hevm cheat code")))));

    uint256 internal constant N_OPS = 5;
    uint256 internal constant N_REQ = 3;
    uint256 internal constant STAKE = 5_000e18;
    uint80 internal constant PRICE = 50_000;
    bytes32 internal constant MODEL = keccak256("model.onnx");
    bytes32 internal constant RESULT_A = keccak256("result A");
    bytes32 internal constant RESULT_B = keccak256("result B");

    AccessManager public manager;
    VeilToken public veil;
    MockUSDC public usdc;
    ModelRegistry public registry;
    NodeStaking public staking;
    JobEscrow public escrowCore;
    IVeilEscrow public escrow; // the core with its forwarded views, at one address
    FeeLedger public ledger;
    address public treasury = address(0x7EA5);
    address public modelOwner = address(0x0DE1);

    address[] public operators;
    address[] public requesters;

    // ghosts
    uint256 public ghostIn; // every fee-token unit that entered the escrow
    uint256 public ghostOut; // every fee-token unit that left it
    uint256[] public jobIds; // every id issued, in submission order (ids are generation << 32 | record index)
    mapping(uint256 jobId => bool) public issued;
    bool public ghostIdReused; // a submission returned an id issued before
    bool public ghostLiveRecycled; // a job was recycled (getJob: JobEscrowJobRecycled) before it was seen settled
    bool public ghostRecordShared; // two open jobs share one record
    bool public ghostTerminalChanged; // a Finalized/Refunded job changed state (paid twice)
    bool public ghostStuck; // a job past every window could not be brought to a terminal state
    mapping(uint256 jobId => IJobEscrow.Status) public lastStatus;
    mapping(uint256 jobId => mapping(uint256 slot => bytes32)) internal _chosen;
    mapping(bytes32 name => uint256) public calls;

    constructor() {
        manager = new AccessManager(address(this));
        veil = new VeilToken(address(this), 1e27);
        usdc = new BlocklistUSDC(); // MockUSDC with USDC's blocklist (the treasury's pull exit)
        registry = new ModelRegistry(address(manager));
        staking = new NodeStaking(address(manager), veil, usdc, registry, 1_000e18, 1 hours);
        escrowCore = new JobEscrow(address(manager), usdc, registry, staking, _params());
        escrow = IVeilEscrow(address(escrowCore));
        ledger = FeeLedger(address(escrowCore.ledger()));
        staking.setProtocolContract(address(escrow), true); // ADMIN (this) holds the unmapped setter
        staking.setProtocolContract(address(ledger), true); // notifyRewards
        staking.setSlashWindowSource(ISlashWindowSource(address(escrow))); // ADMIN holds every unmapped one

        vm.prank(modelOwner);
        registry.registerModel(MODEL, _model());
        for (uint256 i; i < N_OPS; ++i) {
            address op = address(uint160(0xA000 + i));
            operators.push(op);
            veil.transfer(op, STAKE * 2);
            vm.startPrank(op);
            veil.approve(address(staking), type(uint256).max);
            staking.register("http://node", bytes32(0));
            staking.stake(STAKE);
            staking.joinModel(MODEL);
            vm.stopPrank();
        }
        for (uint256 i; i < N_REQ; ++i) {
            address r = address(uint160(0xB000 + i));
            requesters.push(r);
            usdc.mint(r, 1e15);
            vm.prank(r);
            usdc.approve(address(ledger), type(uint256).max);
        }
    }

    function _params() internal view returns (IJobEscrow.Params memory) {
        return IJobEscrow.Params({
            commitWindow: 60,
            revealWindow: 60,
            challengeWindow: 60,
            disputeWindow: 120,
            maxJobDuration: 600,
            maxInputBytes: 1024,
            treasuryBps: 500,
            stakersBps: 500,
            maxRoyaltyBps: 2_000,
            missSlashTo: IJobEscrow.SlashDestination.Treasury,
            minPrice: 1,
            collateral: 100e18,
            missPenalty: 10e18,
            treasury: treasury
        });
    }

    function _model() internal pure returns (IModelRegistry.ModelParams memory) {
        return IModelRegistry.ModelParams({
            price: PRICE,
            royaltyBps: 1_000,
            redundancy: 1,
            comparator: IModelRegistry.ComparatorKind.Exact,
            precision: 0,
            metadataURI: "ipfs://m",
            profile: IModelRegistry.RuntimeProfile(17, "1.30.0", "cpu", 3, true),
            ioSignature: ""
        });
    }

    // ---------------------------------------------------------------- actions

    function submit(uint256 who, uint256 kSeed, uint256 durationSeed, bool fromDeposit) external {
        address r = requesters[who % N_REQ];
        uint8 k = uint8(1 + kSeed % 3);
        uint32 deadline = uint32(block.timestamp + 120 + durationSeed % 480);
        IJobEscrow.SubmitParams memory p =
            IJobEscrow.SubmitParams(MODEL, k, uint80(PRICE) * 7, deadline, hex"0102", "", bytes32(0));
        vm.prank(r);
        try (fromDeposit ? escrow.submitJobFromDeposit : escrow.submitJob)(p) returns (JobId id) {
            uint256 jobId = JobId.unwrap(id);
            if (!fromDeposit) ghostIn += uint256(PRICE) * k;
            if (issued[jobId]) ghostIdReused = true;
            issued[jobId] = true;
            jobIds.push(jobId);
            if (uint32(jobId >> 32) != 0) ++calls["recycledSubmit"];
            ++calls["submit"];
        } catch {}
        _track();
    }

    function deposit(uint256 who, uint256 amount) external {
        address r = requesters[who % N_REQ];
        amount = 1 + amount % 1e9;
        vm.prank(r);
        ledger.deposit(amount);
        ghostIn += amount;
        ++calls["deposit"];
    }

    function withdrawDeposit(uint256 who, uint256 amount) external {
        address r = requesters[who % N_REQ];
        uint256 balance = ledger.depositOf(r);
        if (balance == 0) return;
        amount = 1 + amount % balance;
        vm.prank(r);
        ledger.withdrawDeposit(amount, r);
        ghostOut += amount;
        ++calls["withdrawDeposit"];
    }

    /// @notice The next duty of a recent job: post (k = 1), commit or reveal the first slot that still owes it.
    /// Operators that are never acted for miss their window and get slashed by `poke`.
    function act(uint256 jobSeed, bool agree, uint8 steps) external {
        uint256 jobId = _recentJob(jobSeed);
        if (jobId == 0) return;
        for (uint256 i; i <= steps % 6; ++i) {
            _act(jobId, agree || i % 4 != 3); // mostly agreeing, sometimes not
        }
        _track();
    }

    function _act(uint256 jobId, bool agree) internal {
        (bool live, IJobEscrow.JobView memory j) = _read(jobId);
        if (!live) return;
        bytes32 result = agree ? RESULT_A : RESULT_B;
        if (j.status == IJobEscrow.Status.Assigned && j.redundancy == 1) {
            vm.prank(j.operators[0]);
            try escrow.submitResult(JobId.wrap(jobId), result) {
                ++calls["submitResult"];
            } catch {}
        } else if (j.status == IJobEscrow.Status.Assigned) {
            uint8 slot = _firstUnset(j.commitMask, j.redundancy);
            address op = j.operators[slot];
            bytes32 commitment =
                keccak256(abi.encode(address(escrow), block.chainid, jobId, op, result, _salt(jobId, slot, op)));
            vm.prank(op);
            try escrow.commit(JobId.wrap(jobId), slot, commitment) {
                _chosen[jobId][slot] = result;
                ++calls["commit"];
            } catch {}
        } else if (j.status == IJobEscrow.Status.Revealing) {
            uint8 slot = _firstUnset(j.revealMask, j.redundancy);
            address op = j.operators[slot];
            vm.prank(op);
            try escrow.reveal(JobId.wrap(jobId), slot, _chosen[jobId][slot], _salt(jobId, slot, op)) {
                ++calls["reveal"];
            } catch {}
        }
    }

    function _salt(uint256 jobId, uint256 slot, address op) internal pure returns (bytes32) {
        return keccak256(abi.encode(jobId, slot, op));
    }

    function _firstUnset(uint8 mask, uint8 k) internal pure returns (uint8 i) {
        while (i < k - 1 && mask & (1 << i) != 0) ++i;
    }

    /// @dev One of the four latest jobs (0 when none), so that multi-step flows get completed.
    function _recentJob(uint256 seed) internal view returns (uint256) {
        uint256 n = jobIds.length;
        if (n == 0) return 0;
        return jobIds[n - 1 - seed % (n < 4 ? n : 4)];
    }

    function jobCount() external view returns (uint256) {
        return jobIds.length;
    }

    /// @dev A job's view, or live = false once its record holds a later job (the only revert getJob has here).
    function _read(uint256 jobId) internal view returns (bool live, IJobEscrow.JobView memory j) {
        try escrow.getJob(JobId.wrap(jobId)) returns (IJobEscrow.JobView memory v) {
            return (true, v);
        } catch (bytes memory reason) {
            require(bytes4(reason) == IJobEscrow.JobEscrowJobRecycled.selector, "getJob reverted otherwise");
        }
    }

    function poke(uint256 jobSeed) external {
        uint256 jobId = _recentJob(jobSeed);
        if (jobId == 0) return;
        try escrow.poke(JobId.wrap(jobId)) {
            ++calls["poke"];
        } catch {}
        _track();
    }

    function finalizeMany(uint256 jobSeed) external {
        if (jobIds.length == 0) return;
        JobId[] memory ids = new JobId[](3);
        for (uint256 i; i < 3; ++i) ids[i] = JobId.wrap(_recentJob(uint256(keccak256(abi.encode(jobSeed, i)))));
        ids[2] = ids[0]; // a duplicate must never settle twice
        calls["finalized"] += escrow.finalizeMany(ids);
        _track();
    }

    function withdrawEarnings(uint256 who) external {
        address a = who % 2 == 0 ? operators[who % N_OPS] : modelOwner;
        uint256 amount = ledger.earningsOf(a);
        if (amount == 0) return;
        vm.prank(a);
        ledger.withdrawEarnings(a);
        ghostOut += amount;
        ++calls["withdrawEarnings"];
    }

    function sweep(bool treasuryNotStakers) external {
        if (treasuryNotStakers) {
            uint256 amount = ledger.treasuryAccrued();
            if (amount == 0) return;
            ledger.withdrawTreasury();
            ghostOut += amount;
        } else {
            uint256 amount = ledger.stakerRewardsAccrued();
            if (amount == 0) return;
            ledger.distributeStakerRewards();
            ghostOut += amount;
        }
        ++calls["sweep"];
    }

    /// @notice Governance sets new terms while jobs are open (collateral, fee shares, windows), and the model
    /// owner changes the royalty: open jobs must settle under the terms they were submitted with.
    function setTerms(uint256 seed) external {
        IJobEscrow.Params memory p = _params();
        p.collateral = uint96(50e18 + (seed % 4) * 50e18); // 50..200 VEIL
        p.missPenalty = uint96(p.collateral / 10);
        p.treasuryBps = uint16((seed >> 8) % 1_500);
        p.stakersBps = uint16((seed >> 16) % 1_500);
        p.commitWindow = uint32(30 + (seed >> 24) % 91); // 30..120
        p.revealWindow = uint32(30 + (seed >> 32) % 91);
        p.challengeWindow = uint32(30 + (seed >> 40) % 91);
        p.disputeWindow = uint32(60 + (seed >> 48) % 181); // 60..240
        p.maxJobDuration = uint32(600 + (seed >> 56) % 601); // 600..1200
        escrowCore.setParams(p); // ADMIN (this) holds every unmapped restricted function
        vm.prank(modelOwner);
        registry.setRoyalty(MODEL, uint16((seed >> 64) % 2_001));
        ++calls["setTerms"];
    }

    /// @notice Issue 17, L-3: the token blocks the treasury address, so the push `withdrawTreasury` reverts; the
    /// treasury pulls its accrual to another address with `claimTreasury`. A stranger cannot.
    function blockTreasuryAndClaim(address to) external {
        uint256 amount = ledger.treasuryAccrued();
        if (amount == 0 || to == address(0) || to == treasury) return;
        BlocklistUSDC(address(usdc)).setBlocked(treasury, true);
        try ledger.withdrawTreasury() {
            revert("a push to a blocked treasury succeeded");
        } catch {}
        try ledger.claimTreasury(to) {
            revert("a stranger claimed the treasury's share");
        } catch {}
        vm.prank(treasury);
        ledger.claimTreasury(to);
        ghostOut += amount;
        BlocklistUSDC(address(usdc)).setBlocked(treasury, false);
        ++calls["claimTreasury"];
    }

    function claimRewards(uint256 who) external {
        address op = operators[who % N_OPS];
        vm.prank(op);
        staking.claimRewards(op);
    }

    function unbond(uint256 who, uint256 amount, bool withdraw) external {
        address op = operators[who % N_OPS];
        vm.startPrank(op);
        if (withdraw) {
            try staking.withdrawUnbonded() {
                ++calls["withdrawUnbonded"];
            } catch {}
        } else {
            uint256 free = staking.freeStake(op);
            if (free != 0) {
                staking.requestUnbond(1 + amount % free);
                ++calls["requestUnbond"];
            }
        }
        vm.stopPrank();
    }

    function warp(uint256 secs) external {
        vm.warp(block.timestamp + 1 + secs % 200);
    }

    /// @notice Jumps past every window of every job and pokes each until it is terminal: liveness.
    function settleAll() external {
        uint32 span = 1_200 + 120 + 120 + 240 + 1; // the longest windows setTerms allows
        for (uint256 round; round < 4; ++round) {
            vm.warp(block.timestamp + span);
            for (uint256 i; i < jobIds.length; ++i) {
                (bool live, IJobEscrow.JobView memory j) = _read(jobIds[i]);
                if (live && !_terminal(j.status)) escrow.poke(JobId.wrap(jobIds[i]));
            }
        }
        for (uint256 i; i < jobIds.length; ++i) {
            (bool live, IJobEscrow.JobView memory j) = _read(jobIds[i]);
            if (live && !_terminal(j.status)) ghostStuck = true;
        }
        _track();
        ++calls["settleAll"];
    }

    // ---------------------------------------------------------------- views for the invariants

    function _terminal(IJobEscrow.Status s) internal pure returns (bool) {
        return s == IJobEscrow.Status.Finalized || s == IJobEscrow.Status.Refunded;
    }

    /// @dev Called after every action. A job may only leave storage (recycled) once it was seen settled: no
    /// action both settles a job and submits another, so a recycled job whose last status was open was lost.
    function _track() internal {
        uint256 n = jobIds.length;
        uint256[] memory openRecords = new uint256[](n);
        uint256 open;
        for (uint256 i; i < n; ++i) {
            uint256 id = jobIds[i];
            (bool live, IJobEscrow.JobView memory j) = _read(id);
            IJobEscrow.Status last = lastStatus[id];
            if (!live) {
                if (!_terminal(last)) ghostLiveRecycled = true;
                continue;
            }
            if (_terminal(last) && j.status != last) ghostTerminalChanged = true;
            lastStatus[id] = j.status;
            if (_terminal(j.status)) continue;
            uint256 record = uint32(id); // the record index
            for (uint256 m; m < open; ++m) {
                if (openRecords[m] == record) ghostRecordShared = true;
            }
            openRecords[open++] = record;
        }
    }

    function openEscrow() public view returns (uint256 sum) {
        for (uint256 i; i < jobIds.length; ++i) {
            (bool live, IJobEscrow.JobView memory j) = _read(jobIds[i]);
            if (!live || _terminal(j.status)) continue;
            sum += uint256(j.price) * j.redundancy;
        }
    }

    function claimable() public view returns (uint256 sum) {
        for (uint256 i; i < N_REQ; ++i) sum += ledger.depositOf(requesters[i]);
        for (uint256 i; i < N_OPS; ++i) sum += ledger.earningsOf(operators[i]);
        sum += ledger.earningsOf(modelOwner);
        sum += ledger.treasuryAccrued() + ledger.stakerRewardsAccrued();
    }

    function stakedPlusUnbonding() public view returns (uint256 sum) {
        for (uint256 i; i < N_OPS; ++i) {
            INodeStaking.OperatorView memory o = staking.operator(operators[i]);
            sum += uint256(o.stake) + o.unbonding;
        }
    }

    /// @dev Every operator's locked collateral is exactly what its open jobs' terms lock: each slot not released
    /// (missed) of an open job locks the collateral of the terms version the job was submitted under.
    function lockedMatchesOpenJobs() public view returns (bool) {
        uint256 locked;
        for (uint256 i; i < N_OPS; ++i) locked += staking.operator(operators[i]).locked;
        uint256 expected;
        for (uint256 i; i < jobIds.length; ++i) {
            (bool live, IJobEscrow.JobView memory j) = _read(jobIds[i]);
            if (!live || _terminal(j.status)) continue;
            uint256 active = j.redundancy;
            for (uint256 b; b < j.redundancy; ++b) if (j.missedMask & (1 << b) != 0) --active;
            expected += active * escrow.paramsAt(j.termsVersion).collateral;
        }
        return locked == expected;
    }

    /// @dev True when no job is open (every one issued is finalized, refunded or recycled after settling).
    function allTerminal() public view returns (bool) {
        for (uint256 i; i < jobIds.length; ++i) {
            (bool live, IJobEscrow.JobView memory j) = _read(jobIds[i]);
            if (live && !_terminal(j.status)) return false;
        }
        return true;
    }

    function nothingLocked() public view returns (bool) {
        for (uint256 i; i < N_OPS; ++i) if (staking.operator(operators[i]).locked != 0) return false;
        return true;
    }

    function pendingStakerRewards() public view returns (uint256 sum) {
        for (uint256 i; i < N_OPS; ++i) sum += staking.pendingRewards(operators[i]);
        sum += staking.undistributedRewards();
    }

    function lockedWithinStake() public view returns (bool) {
        for (uint256 i; i < N_OPS; ++i) {
            INodeStaking.OperatorView memory o = staking.operator(operators[i]);
            if (o.locked > o.stake) return false;
        }
        return true;
    }
}
