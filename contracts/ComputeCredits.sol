// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

import {AccessManaged} from "@openzeppelin/contracts/access/manager/AccessManaged.sol";
import {ERC20} from "@openzeppelin/contracts/token/ERC20/ERC20.sol";
import {ERC20Permit} from "@openzeppelin/contracts/token/ERC20/extensions/ERC20Permit.sol";
import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {SafeERC20} from "@openzeppelin/contracts/token/ERC20/utils/SafeERC20.sol";
import {SafeCast} from "@openzeppelin/contracts/utils/math/SafeCast.sol";
import {Math} from "@openzeppelin/contracts/utils/math/Math.sol";
import {ReentrancyGuardTransient} from "@openzeppelin/contracts/utils/ReentrancyGuardTransient.sol";
import {IComputeCredits} from "./interfaces/IComputeCredits.sol";
import {IJobEscrow, IVeilEscrow} from "./interfaces/IJobEscrow.sol";
import {IFeeLedger} from "./interfaces/IFeeLedger.sol";
import {JobId} from "./types/JobId.sol";
import {IModelRegistry} from "./interfaces/IModelRegistry.sol";
import {AllowanceMath} from "./libraries/AllowanceMath.sol";
import {BondingCurve} from "./libraries/BondingCurve.sol";
import {PausableActions} from "./libraries/PausableActions.sol";

/// @title ComputeCredits
/// @notice Veil Compute Credits (VCC); see IComputeCredits for the documentation of each function.
/// @dev Exits are never pausable: `burn` and `withdrawUnlocked` have no pause flag. The staking tokens held
/// are tracked internally (`_locked` + `_unlocking`), so a donation changes nobody's share.
contract ComputeCredits is IComputeCredits, ERC20, ERC20Permit, AccessManaged, PausableActions, ReentrancyGuardTransient {
    using SafeERC20 for IERC20;
    using SafeCast for uint256;
    using AllowanceMath for AllowanceMath.Holder;
    using AllowanceMath for AllowanceMath.Agent;

    uint8 public constant ACTION_MINT = 0;
    uint8 public constant ACTION_SUBMIT = 1;
    uint8 public constant ACTION_FUND = 2;
    /// @notice Bound on pending unlock requests per account, so `withdrawUnlocked` is a bounded loop.
    uint256 public constant MAX_PENDING_UNLOCKS = 16;

    IERC20 public immutable stakingToken;
    IERC20 public immutable feeToken;
    IVeilEscrow public immutable escrow;
    IModelRegistry public immutable registry;

    CurveParams private _curve;
    uint256 private _allowancePerCredit;
    uint256 private _unlockDelay;
    uint256 private _locked;
    uint256 private _unlocking;

    mapping(address account => AllowanceMath.Holder) private _holders;
    mapping(address holder => mapping(address agent => AllowanceMath.Agent)) private _agents;
    mapping(address account => Unlock[]) private _unlocks;

    constructor(
        address authority,
        IVeilEscrow escrow_,
        IERC20 stakingToken_,
        IERC20 feeToken_,
        IModelRegistry registry_,
        CurveParams memory curve_,
        uint256 allowancePerCredit_,
        uint256 unlockDelay_
    ) ERC20("Veil Compute Credit", "VCC") ERC20Permit("Veil Compute Credit") AccessManaged(authority) {
        require(address(stakingToken_) != address(feeToken_), ComputeCreditsSameToken(address(feeToken_)));
        escrow = escrow_;
        stakingToken = stakingToken_;
        feeToken = feeToken_;
        registry = registry_;
        _setCurve(curve_);
        _setAllowancePerCredit(allowancePerCredit_);
        _setUnlockDelay(unlockDelay_);
        // The fee ledger is the protocol's own contract (deployed by the escrow) and only pulls from this pool when
        // the escrow asks it to collect the fee of a job this contract submits (`submitJobFor`, payer module) or
        // when this contract deposits: a standing approval saves an approve per job.
        feeToken_.forceApprove(address(escrow_.ledger()), type(uint256).max);
    }

    // ================================================================ governance

    function setCurve(CurveParams calldata curve_) external restricted {
        _setCurve(curve_);
    }

    function setAllowancePerCredit(uint256 rate) external restricted {
        _setAllowancePerCredit(rate);
    }

    function setUnlockDelay(uint256 delay) external restricted {
        _setUnlockDelay(delay);
    }

    function setPaused(uint8 action, bool paused) external restricted {
        _setPaused(action, paused);
    }

    // ================================================================ credits

    /// @inheritdoc IComputeCredits
    function mint(uint256 credits, uint256 maxCost) external nonReentrant whenActive(ACTION_MINT) returns (uint256 cost) {
        require(credits != 0, ComputeCreditsZeroAmount());
        uint256 supply = totalSupply();
        uint256 supplyAfter = supply + credits;
        require(supplyAfter <= BondingCurve.MAX_SUPPLY, ComputeCreditsSupplyCap(supplyAfter, BondingCurve.MAX_SUPPLY));
        CurveParams memory c = _curve;
        cost = BondingCurve.mintCost(supply, credits, c.base, c.scale); // rounded up, against the minter
        require(cost <= maxCost, ComputeCreditsCostAboveMax(cost, maxCost));
        _locked += cost;
        _mint(msg.sender, credits);
        emit Minted(msg.sender, credits, cost, supplyAfter);
        uint256 before = stakingToken.balanceOf(address(this));
        stakingToken.safeTransferFrom(msg.sender, address(this), cost);
        uint256 received = stakingToken.balanceOf(address(this)) - before;
        require(received == cost, ComputeCreditsTransferMismatch(cost, received));
    }

    /// @inheritdoc IComputeCredits
    function burn(uint256 credits, uint256 minReturn)
        external
        nonReentrant
        returns (uint256 stakeReturned, uint64 unlockTime)
    {
        require(credits != 0, ComputeCreditsZeroAmount());
        Unlock[] storage queue = _unlocks[msg.sender];
        require(queue.length < MAX_PENDING_UNLOCKS, ComputeCreditsTooManyUnlocks(msg.sender, MAX_PENDING_UNLOCKS));
        stakeReturned = _burnReturn(credits); // reverts below if credits > balance (hence <= supply)
        require(stakeReturned >= minReturn, ComputeCreditsReturnBelowMin(stakeReturned, minReturn));
        unlockTime = (block.timestamp + _unlockDelay).toUint64();
        _burn(msg.sender, credits);
        _locked -= stakeReturned; // <= _locked: rounded down from a share of at most all of it
        _unlocking += stakeReturned;
        queue.push(Unlock(stakeReturned.toUint128(), unlockTime));
        emit Burned(msg.sender, credits, stakeReturned, unlockTime);
    }

    /// @inheritdoc IComputeCredits
    function withdrawUnlocked(address to) external nonReentrant returns (uint256 amount) {
        Unlock[] storage queue = _unlocks[msg.sender];
        uint256 nextTime = type(uint256).max;
        // Bounded by MAX_PENDING_UNLOCKS. Swap-and-pop keeps the unmatured ones (their order is irrelevant).
        for (uint256 i = queue.length; i > 0;) {
            unchecked {
                --i; // i > 0 just checked
            }
            Unlock memory u = queue[i];
            if (u.unlockTime <= block.timestamp) {
                amount += u.amount;
                queue[i] = queue[queue.length - 1];
                queue.pop();
            } else if (u.unlockTime < nextTime) {
                nextTime = u.unlockTime;
            }
        }
        require(amount != 0, ComputeCreditsNothingUnlocked(msg.sender, nextTime, block.timestamp));
        _unlocking -= amount;
        emit Unlocked(msg.sender, to, amount);
        stakingToken.safeTransfer(to, amount);
    }

    // ================================================================ allowance

    /// @inheritdoc IComputeCredits
    function grantAgent(address agent, uint256 dailyCap) external {
        require(dailyCap != 0, ComputeCreditsZeroAmount());
        _agents[msg.sender][agent].dailyCap = dailyCap.toUint96();
        emit AgentGranted(msg.sender, agent, dailyCap);
    }

    /// @inheritdoc IComputeCredits
    function revokeAgent(address agent) external {
        // The day's spend stays recorded, so a grant later the same day does not reset it.
        _agents[msg.sender][agent].dailyCap = 0;
        emit AgentRevoked(msg.sender, agent);
    }

    /// @inheritdoc IComputeCredits
    function submitJob(address holder, IJobEscrow.SubmitParams calldata params)
        external
        nonReentrant
        whenActive(ACTION_SUBMIT)
        returns (JobId jobId)
    {
        uint256 fee = _feeOf(params);
        uint256 spentToday = _consume(holder, msg.sender, fee);
        uint256 pool = feeToken.balanceOf(address(this));
        require(pool >= fee, ComputeCreditsPoolInsufficient(fee, pool));
        // The escrow pulls exactly `fee`: it prices the job from the same registry in this transaction.
        jobId = escrow.submitJobFor(msg.sender, params);
        emit AllowanceSpent(holder, msg.sender, JobId.unwrap(jobId), fee, spentToday);
    }

    // ================================================================ pool

    /// @inheritdoc IComputeCredits
    function fundPool(uint256 amount) external nonReentrant whenActive(ACTION_FUND) {
        require(amount != 0, ComputeCreditsZeroAmount());
        uint256 before = feeToken.balanceOf(address(this));
        feeToken.safeTransferFrom(msg.sender, address(this), amount);
        uint256 received = feeToken.balanceOf(address(this)) - before;
        require(received == amount, ComputeCreditsTransferMismatch(amount, received));
        emit PoolFunded(msg.sender, amount);
    }

    /// @inheritdoc IComputeCredits
    function reclaimRefunds() external nonReentrant returns (uint256 amount) {
        IFeeLedger ledger = escrow.ledger();
        amount = ledger.depositOf(address(this));
        require(amount != 0, ComputeCreditsNothingToReclaim());
        emit RefundsReclaimed(amount);
        ledger.withdrawDeposit(amount, address(this));
    }

    // ================================================================ views

    /// @inheritdoc IComputeCredits
    function allowanceLeft(address account) public view returns (uint256) {
        return _holders[account].left(balanceOf(account), _allowancePerCredit);
    }

    /// @inheritdoc IComputeCredits
    function agentAllowanceLeft(address holder, address agent) external view returns (uint256) {
        return Math.min(_agents[holder][agent].left(), allowanceLeft(holder));
    }

    /// @inheritdoc IComputeCredits
    function agentOf(address holder, address agent) external view returns (uint256 dailyCap, uint256 spentToday) {
        AllowanceMath.Agent memory a = _agents[holder][agent];
        return (a.dailyCap, a.day == AllowanceMath.today() ? a.spent : 0);
    }

    /// @inheritdoc IComputeCredits
    function startOfDayBalance(address account) external view returns (uint256) {
        AllowanceMath.Holder memory h = _holders[account];
        return h.day == AllowanceMath.today() ? h.startBalance : balanceOf(account);
    }

    /// @inheritdoc IComputeCredits
    function nextReset() external view returns (uint256) {
        return AllowanceMath.nextReset();
    }

    /// @inheritdoc IComputeCredits
    function mintCost(uint256 credits) external view returns (uint256) {
        uint256 supply = totalSupply();
        require(
            supply + credits <= BondingCurve.MAX_SUPPLY,
            ComputeCreditsSupplyCap(supply + credits, BondingCurve.MAX_SUPPLY)
        );
        return BondingCurve.mintCost(supply, credits, _curve.base, _curve.scale);
    }

    /// @inheritdoc IComputeCredits
    function burnReturn(uint256 credits) external view returns (uint256) {
        return _burnReturn(credits);
    }

    /// @notice The marginal mint price (staking-token units per 1e18 credits) at the current supply.
    function spotPrice() external view returns (uint256) {
        return BondingCurve.spotPrice(totalSupply(), _curve.base, _curve.scale);
    }

    /// @inheritdoc IComputeCredits
    function unlocksOf(address account) external view returns (Unlock[] memory) {
        return _unlocks[account];
    }

    /// @inheritdoc IComputeCredits
    function poolBalance() external view returns (uint256) {
        return feeToken.balanceOf(address(this));
    }

    /// @inheritdoc IComputeCredits
    function totalLocked() external view returns (uint256) {
        return _locked;
    }

    /// @inheritdoc IComputeCredits
    function totalUnlocking() external view returns (uint256) {
        return _unlocking;
    }

    /// @inheritdoc IComputeCredits
    function curve() external view returns (CurveParams memory) {
        return _curve;
    }

    /// @inheritdoc IComputeCredits
    function allowancePerCredit() external view returns (uint256) {
        return _allowancePerCredit;
    }

    /// @inheritdoc IComputeCredits
    function unlockDelay() external view returns (uint256) {
        return _unlockDelay;
    }

    // ================================================================ internals

    /// @dev Every balance change checkpoints both sides at their first touch of the day, before it moves.
    function _update(address from, address to, uint256 value) internal override {
        if (from != address(0)) _holders[from].checkpoint(balanceOf(from));
        if (to != address(0)) _holders[to].checkpoint(balanceOf(to));
        super._update(from, to, value);
    }

    /// @dev Every spend of allowance goes through here. Returns the holder's spend today after this one.
    function _consume(address holder, address spender, uint256 fee) private returns (uint256 spentToday) {
        AllowanceMath.Holder storage h = _holders[holder];
        h.checkpoint(balanceOf(holder));
        if (spender != holder) {
            AllowanceMath.Agent storage a = _agents[holder][spender];
            require(a.dailyCap != 0, ComputeCreditsNotAgent(holder, spender));
            uint256 capLeft = a.left();
            require(fee <= capLeft, ComputeCreditsAgentCapExceeded(holder, spender, fee, capLeft));
            uint32 d = AllowanceMath.today();
            uint256 agentSpent = a.day == d ? a.spent : 0;
            a.day = d;
            a.spent = (agentSpent + fee).toUint96(); // <= dailyCap, a uint96
        }
        uint256 total = AllowanceMath.allowanceOf(h.startBalance, _allowancePerCredit);
        uint256 spent = h.spent;
        uint256 left = total > spent ? total - spent : 0;
        require(fee <= left, ComputeCreditsAllowanceExceeded(holder, fee, left));
        spentToday = spent + fee;
        h.spent = spentToday.toUint128();
    }

    /// @dev The fee the escrow will charge for `p`: the model's price times the redundancy, as JobEscrow prices it.
    function _feeOf(IJobEscrow.SubmitParams calldata p) private view returns (uint256) {
        (, uint80 price, uint8 defaultK, bool active,) = registry.jobTerms(p.modelId);
        require(active, ComputeCreditsModelInactive(p.modelId));
        uint8 k = p.redundancy == 0 ? defaultK : p.redundancy;
        return uint256(price) * k;
    }

    /// @dev The lesser of the pro-rata share of the locked stake and the curve's price of the top `credits`
    /// (what minting them back would cost), both rounded down, against the burner. The pro-rata share bounds
    /// it by what is locked; the curve bound means no mint-then-burn round trip gains, neither from other
    /// mints' rounding nor from a curve lowered by governance. Burning the whole supply returns all that is
    /// locked, so nothing is ever stranded.
    function _burnReturn(uint256 credits) private view returns (uint256) {
        uint256 supply = totalSupply();
        if (credits == 0 || supply == 0) return 0;
        if (credits >= supply) return _locked;
        uint256 proRata = Math.mulDiv(_locked, credits, supply);
        CurveParams memory c = _curve;
        // supply <= MAX_SUPPLY, so the curve's domain holds; the floor is the cost minus its round-up.
        uint256 top = BondingCurve.mintCostFloor(supply - credits, credits, c.base, c.scale);
        return Math.min(proRata, top);
    }

    function _setCurve(CurveParams memory c) private {
        _bound("base", c.base, 1, 1e36);
        _bound("scale", c.scale, 1e18, 2 ** 96);
        _curve = c;
        emit CurveSet(c.base, c.scale);
    }

    function _setAllowancePerCredit(uint256 rate) private {
        _bound("allowancePerCredit", rate, 0, 1e24);
        _allowancePerCredit = rate;
        emit AllowancePerCreditSet(rate);
    }

    function _setUnlockDelay(uint256 delay) private {
        _bound("unlockDelay", delay, 1 hours, 90 days);
        _unlockDelay = delay;
        emit UnlockDelaySet(delay);
    }

    function _bound(bytes32 name, uint256 value, uint256 min, uint256 max) private pure {
        require(value >= min && value <= max, ComputeCreditsParameterOutOfBounds(name, value, min, max));
    }
}
