// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

import {AccessManager} from "@openzeppelin/contracts/access/manager/AccessManager.sol";
import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {ComputeCredits} from "../../../contracts/ComputeCredits.sol";
import {JobEscrow} from "../../../contracts/JobEscrow.sol";
import {NodeStaking} from "../../../contracts/NodeStaking.sol";
import {ModelRegistry} from "../../../contracts/ModelRegistry.sol";
import {VeilToken} from "../../../contracts/VeilToken.sol";
import {MockUSDC} from "../../../contracts/mocks/MockUSDC.sol";
import {IComputeCredits} from "../../../contracts/interfaces/IComputeCredits.sol";
import {IJobEscrow, IVeilEscrow} from "../../../contracts/interfaces/IJobEscrow.sol";
import {ISlashWindowSource} from "../../../contracts/interfaces/ISlashWindowSource.sol";
import {JobId} from "../../../contracts/types/JobId.sol";
import {IModelRegistry} from "../../../contracts/interfaces/IModelRegistry.sol";
import {Vm} from "./TestBase.sol";

/// @notice Drives ComputeCredits wired to the real escrow (AccessManager, VeilToken, MockUSDC, ModelRegistry,
/// NodeStaking, JobEscrow) through random mints, burns, withdrawals, transfers, agent grants, allowance-paid
/// jobs, results, pokes, refund reclaims and time warps across UTC midnights. It keeps its own ghost record of
/// each account's balance at 00:00 (taken independently of the contract's checkpoints) and of every spend.
/// Rejected calls are skipped (try/catch), so every run goes the full depth.
contract CreditsHandler {
    Vm internal constant vm = Vm(address(uint160(uint256(keccak256("hevm cheat code")))));

    uint64 internal constant CREDITS = 4;
    uint256 internal constant N_HOLDERS = 3;
    uint256 internal constant RATE = 200_000; // 4 jobs per credit per day at PRICE
    uint80 internal constant PRICE = 50_000;
    bytes32 internal constant MODEL = keccak256("model.onnx");

    AccessManager public manager;
    VeilToken public veil;
    MockUSDC public usdc;
    ModelRegistry public registry;
    NodeStaking public staking;
    IVeilEscrow public escrow;
    ComputeCredits public credits;
    address[] public holders;
    address[] public operators;
    address public agent = address(0xA6E7);
    uint256[] internal _jobs;

    // ghosts
    uint256 public ghostTaken; // VEIL taken by mints
    uint256 public ghostReturned; // VEIL assigned to unlock requests by burns
    uint256 public ghostWithdrawn; // VEIL sent out by withdrawUnlocked
    uint256 public ghostFunded; // fee tokens put into the pool
    uint256 public ghostReclaimed; // refunds pulled back
    uint256 public ghostPaid; // fees the pool paid the escrow
    uint256 public ghostDay;
    uint256 public ghostSupplyAtStart; // total supply at 00:00 of ghostDay
    uint256 public ghostSpentToday; // allowance spent by everyone during ghostDay
    bool public ghostOverspent; // some holder spent more in a day than its 00:00 balance allows
    bool public ghostAgentOverCap; // some agent spent more in a day than its cap
    bool public ghostEarlyWithdraw; // a withdrawal paid an unmatured request
    mapping(address account => uint256) public startBalance; // at 00:00 of ghostDay
    mapping(address account => uint256) public spentToday;
    uint256 public agentSpentToday;
    uint256 public agentCap;
    mapping(bytes32 name => uint256) public calls;

    constructor() {
        vm.warp(1_800_000_000);
        manager = new AccessManager(address(this));
        veil = new VeilToken(address(this), 1e30);
        usdc = new MockUSDC();
        registry = new ModelRegistry(address(manager));
        staking = new NodeStaking(address(manager), veil, usdc, registry, 1_000e18, 1 hours);
        escrow = IVeilEscrow(address(new JobEscrow(address(manager), usdc, registry, staking, _params())));
        credits = new ComputeCredits(
            address(manager),
            escrow,
            veil,
            IERC20(address(usdc)),
            registry,
            IComputeCredits.CurveParams(100e18, 1_000e18),
            RATE,
            1 days
        );
        staking.setProtocolContract(address(escrow), true); // ADMIN (this) holds the unmapped setter
        staking.setProtocolContract(address(escrow.ledger()), true);
        staking.setSlashWindowSource(ISlashWindowSource(address(escrow))); // ADMIN (this) holds every unmapped one
        escrow.ledger().setPayerModule(address(credits), true); // the pool pays for the jobs it submits

        vm.prank(address(0x0DE1));
        registry.registerModel(MODEL, _model());
        for (uint256 i; i < 3; ++i) {
            address op = address(uint160(0xA000 + i));
            operators.push(op);
            veil.transfer(op, 10_000e18);
            vm.startPrank(op);
            veil.approve(address(staking), type(uint256).max);
            staking.register("http://node", bytes32(0));
            staking.stake(5_000e18);
            staking.joinModel(MODEL);
            vm.stopPrank();
        }
        for (uint256 i; i < N_HOLDERS; ++i) {
            address h = address(uint160(0xB000 + i));
            holders.push(h);
            veil.transfer(h, 1e27);
            vm.prank(h);
            veil.approve(address(credits), type(uint256).max);
        }
        usdc.mint(address(this), 1e15);
        usdc.approve(address(credits), type(uint256).max);
        _tick();
    }

    function _params() internal pure returns (IJobEscrow.Params memory) {
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
            treasury: address(0x7EA5)
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

    /// @dev The first action of a new UTC day records every balance as it stood at 00:00 (nothing moved since).
    function _tick() internal {
        uint256 today = block.timestamp / 1 days;
        if (today == ghostDay) return;
        ghostDay = today;
        ghostSupplyAtStart = credits.totalSupply();
        ghostSpentToday = 0;
        agentSpentToday = 0;
        for (uint256 i; i < N_HOLDERS; ++i) {
            startBalance[holders[i]] = credits.balanceOf(holders[i]);
            spentToday[holders[i]] = 0;
        }
    }

    modifier tick() {
        _tick();
        _;
    }

    // ---------------------------------------------------------------- actions

    function mint(uint256 who, uint256 amount) external tick {
        address h = holders[who % N_HOLDERS];
        amount = 1 + amount % 20e18;
        vm.prank(h);
        try credits.mint(amount, type(uint256).max) returns (uint256 cost) {
            ghostTaken += cost;
            ++calls["mint"];
        } catch {}
    }

    function burn(uint256 who, uint256 amount) external tick {
        address h = holders[who % N_HOLDERS];
        uint256 bal = credits.balanceOf(h);
        if (bal == 0) return;
        amount = 1 + amount % bal;
        vm.prank(h);
        try credits.burn(amount, 0) returns (uint256 back, uint64) {
            ghostReturned += back;
            ++calls["burn"];
        } catch {}
    }

    function withdraw(uint256 who) external tick {
        address h = holders[who % N_HOLDERS];
        IComputeCredits.Unlock[] memory u = credits.unlocksOf(h);
        uint256 matured;
        for (uint256 i; i < u.length; ++i) {
            if (u[i].unlockTime <= block.timestamp) matured += u[i].amount;
        }
        vm.prank(h);
        try credits.withdrawUnlocked(h) returns (uint256 amount) {
            if (amount != matured) ghostEarlyWithdraw = true;
            ghostWithdrawn += amount;
            ++calls["withdraw"];
        } catch {
            if (matured != 0) ghostEarlyWithdraw = true; // a matured unlock must always be withdrawable
        }
    }

    function transfer(uint256 from, uint256 to, uint256 amount) external tick {
        address f = holders[from % N_HOLDERS];
        uint256 bal = credits.balanceOf(f);
        amount = bal == 0 ? 0 : amount % (bal + 1);
        vm.prank(f);
        credits.transfer(holders[to % N_HOLDERS], amount);
        ++calls["transfer"];
    }

    function grantAgent(uint256 jobs) external tick {
        agentCap = uint256(PRICE) * (1 + jobs % 4);
        vm.prank(holders[0]);
        credits.grantAgent(agent, agentCap);
        ++calls["grant"];
    }

    function revokeAgent() external tick {
        agentCap = 0;
        vm.prank(holders[0]);
        credits.revokeAgent(agent);
    }

    function submit(uint256 who, bool byAgent, bool shortDeadline) external tick {
        address h = byAgent ? holders[0] : holders[who % N_HOLDERS];
        IJobEscrow.SubmitParams memory p = IJobEscrow.SubmitParams(
            MODEL, 1, PRICE, uint32(block.timestamp + (shortDeadline ? 70 : 600)), hex"0102", "", bytes32(0)
        );
        uint256 poolBefore = usdc.balanceOf(address(credits));
        vm.prank(byAgent ? agent : h);
        try credits.submitJob(h, p) returns (JobId jobId) {
            _jobs.push(JobId.unwrap(jobId));
            ghostPaid += poolBefore - usdc.balanceOf(address(credits));
            spentToday[h] += PRICE;
            ghostSpentToday += PRICE;
            if (spentToday[h] > startBalance[h] * RATE / 1e18) ghostOverspent = true;
            if (byAgent) {
                agentSpentToday += PRICE;
                if (agentSpentToday > agentCap) ghostAgentOverCap = true;
            }
            ++calls["submit"];
        } catch {}
    }

    function deliver(uint256 idx) external tick {
        if (_jobs.length == 0) return;
        uint256 jobId = _jobs[idx % _jobs.length];
        IJobEscrow.JobView memory j = escrow.getJob(JobId.wrap(jobId));
        vm.prank(j.operators[0]);
        try escrow.submitResult(JobId.wrap(jobId), keccak256("result")) {++calls["deliver"];} catch {}
    }

    function poke(uint256 idx) external tick {
        if (_jobs.length == 0) return;
        try escrow.poke(JobId.wrap(_jobs[idx % _jobs.length])) {++calls["poke"];} catch {}
    }

    function fund(uint256 amount) external tick {
        amount = 1 + amount % 1e9;
        credits.fundPool(amount);
        ghostFunded += amount;
    }

    function reclaim() external tick {
        try credits.reclaimRefunds() returns (uint256 amount) {
            ghostReclaimed += amount;
            ++calls["reclaim"];
        } catch {}
    }

    /// @dev Up to 30 hours at once: runs cross UTC midnights and unlock cooldowns.
    function warp(uint256 secs) external {
        vm.warp(block.timestamp + 1 + secs % 30 hours);
        _tick();
    }
}
