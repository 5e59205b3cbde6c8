// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

import {AccessManaged} from "@openzeppelin/contracts/access/manager/AccessManaged.sol";
import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {IERC20Permit} from "@openzeppelin/contracts/token/ERC20/extensions/IERC20Permit.sol";
import {SafeERC20} from "@openzeppelin/contracts/token/ERC20/utils/SafeERC20.sol";
import {SafeCast} from "@openzeppelin/contracts/utils/math/SafeCast.sol";
import {ReentrancyGuardTransient} from "@openzeppelin/contracts/utils/ReentrancyGuardTransient.sol";
import {IFeeLedger} from "./interfaces/IFeeLedger.sol";
import {IVeilEscrow} from "./interfaces/IJobEscrow.sol";
import {INodeStaking} from "./interfaces/INodeStaking.sol";
import {PausableActions} from "./libraries/PausableActions.sol";

/// @title FeeLedger
/// @notice Holds every fee-token balance of the job market; see IFeeLedger. Deployed by JobEscrow's constructor,
/// which is its only `escrow`.
/// @dev Settlement writes each account once per batch (the escrow sums a batch in memory). Fee-on-transfer tokens
/// are rejected by a balance-delta check on every pull, so the ledger is never under-collateralised.
contract FeeLedger is IFeeLedger, AccessManaged, PausableActions, ReentrancyGuardTransient {
    using SafeERC20 for IERC20;
    using SafeCast for uint256;

    /// @dev Same action number as before the split (JobEscrow's ACTION_DEPOSIT), so pause tooling keeps its ids.
    uint8 internal constant ACTION_DEPOSIT = 1;
    uint256 private constant EARNED = 1 << 255;

    struct Module {
        address module;
        bool allowed;
    }

    IERC20 public immutable feeToken;
    INodeStaking public immutable staking;
    address public immutable escrow;

    uint128 private _treasuryAccrued;
    uint128 private _stakerAccrued;
    uint8 private _moduleCount;
    mapping(address account => uint256) private _deposits;
    /// @dev An account's earnings, with bit 255 set once the account was ever credited (EARNED): a withdrawal
    /// leaves the slot at EARNED rather than zero, so an operator that withdraws after every batch pays 2,900 gas
    /// for its next credit instead of 20,000 (zero -> non-zero), at the cost of the 4,800 refund of clearing it.
    /// Amounts are bounded by the fee token's supply, far below 2^255.
    mapping(address account => uint256) private _earnings;
    mapping(uint8 id => Module) private _modules;
    mapping(address module => uint8 id) private _moduleIds;

    modifier onlyEscrow() {
        require(msg.sender == escrow, FeeLedgerOnlyEscrow(msg.sender));
        _;
    }

    /// @param escrow_ The job escrow (JobEscrow passes itself: it deploys the ledger).
    constructor(address authority, IERC20 feeToken_, INodeStaking staking_, address escrow_) AccessManaged(authority) {
        feeToken = feeToken_;
        staking = staking_;
        escrow = escrow_;
    }

    // ================================================================ governance

    /// @inheritdoc IFeeLedger
    function setPayerModule(address module, bool allowed) external restricted {
        require(module != address(0), FeeLedgerZeroAddress());
        uint8 id = _moduleIds[module];
        if (id == 0) {
            uint256 next = uint256(_moduleCount) + 1;
            require(next <= type(uint8).max, FeeLedgerTooManyModules(type(uint8).max));
            id = uint8(next);
            _moduleCount = id;
            _moduleIds[module] = id;
        }
        _modules[id] = Module(module, allowed);
        emit PayerModuleSet(module, id, allowed);
    }

    function setPaused(uint8 action, bool paused) external restricted {
        _setPaused(action, paused);
    }

    // ================================================================ payers

    /// @inheritdoc IFeeLedger
    function deposit(uint256 amount) external nonReentrant whenActive(ACTION_DEPOSIT) {
        _deposit(msg.sender, amount);
    }

    /// @inheritdoc IFeeLedger
    function depositFor(address account, uint256 amount) external nonReentrant whenActive(ACTION_DEPOSIT) {
        require(account != address(0), FeeLedgerZeroAddress());
        _deposit(account, amount);
    }

    /// @inheritdoc IFeeLedger
    function depositWithPermit(address account, uint256 amount, uint256 deadline, uint8 v, bytes32 r, bytes32 s)
        external
        nonReentrant
        whenActive(ACTION_DEPOSIT)
    {
        require(account != address(0), FeeLedgerZeroAddress());
        // A front-run permit only spends the nonce; the allowance it set is used all the same.
        try IERC20Permit(address(feeToken)).permit(msg.sender, address(this), amount, deadline, v, r, s) {} catch {}
        _deposit(account, amount);
    }

    /// @inheritdoc IFeeLedger
    function withdrawDeposit(uint256 amount, address to) external nonReentrant {
        require(amount != 0, FeeLedgerZeroAmount());
        _debit(msg.sender, amount);
        emit DepositWithdrawn(msg.sender, to, amount);
        feeToken.safeTransfer(to, amount);
    }

    // ================================================================ payees

    /// @inheritdoc IFeeLedger
    function withdrawEarnings(address to) external nonReentrant returns (uint256 amount) {
        amount = _payEarnings(msg.sender, to, 0);
        require(amount != 0, FeeLedgerNothingToWithdraw(msg.sender));
    }

    /// @inheritdoc IFeeLedger
    function withdrawTreasury() external nonReentrant returns (uint256 amount) {
        address treasury = IVeilEscrow(escrow).params().treasury;
        amount = _payTreasury(treasury, treasury);
    }

    /// @inheritdoc IFeeLedger
    function claimTreasury(address to) external nonReentrant returns (uint256 amount) {
        address treasury = IVeilEscrow(escrow).params().treasury;
        require(msg.sender == treasury, FeeLedgerNotTreasury(msg.sender, treasury));
        require(to != address(0), FeeLedgerZeroAddress());
        amount = _payTreasury(treasury, to);
    }

    /// @inheritdoc IFeeLedger
    function distributeStakerRewards() external nonReentrant returns (uint256 amount) {
        amount = _stakerAccrued;
        require(amount != 0, FeeLedgerNothingToWithdraw(address(staking)));
        _stakerAccrued = 0;
        emit StakerRewardsDistributed(amount);
        feeToken.safeTransfer(address(staking), amount);
        staking.notifyRewards(amount);
    }

    // ================================================================ the escrow

    /// @inheritdoc IFeeLedger
    function collect(address payer, uint256 amount, bool fromDeposit) external onlyEscrow nonReentrant {
        if (fromDeposit) _debit(payer, amount);
        else _pull(payer, amount);
    }

    /// @inheritdoc IFeeLedger
    function collectFromModule(address module, uint256 amount) external onlyEscrow nonReentrant returns (uint8 id) {
        id = _moduleIds[module];
        require(id != 0 && _modules[id].allowed, FeeLedgerNotPayerModule(module));
        _pull(module, amount);
    }

    /// @inheritdoc IFeeLedger
    function settle(Settlement calldata s, address claimer, address to) external onlyEscrow nonReentrant returns (uint256 paid) {
        uint256 n = s.payees.length;
        for (uint256 i; i < n; ++i) {
            address payee = s.payees[i];
            if (payee == claimer) paid += s.earnings[i];
            else _earnings[payee] = (_earnings[payee] | EARNED) + s.earnings[i];
        }
        n = s.payers.length;
        for (uint256 i; i < n; ++i) {
            _deposits[s.payers[i]] += s.refunds[i];
        }
        if (s.treasury != 0 || s.stakers != 0) {
            // Both accruals share one slot; each total is bounded by the fee token's supply.
            _treasuryAccrued += s.treasury.toUint128();
            _stakerAccrued += s.stakers.toUint128();
        }
        if (claimer != address(0)) paid = _payEarnings(claimer, to, paid);
    }

    // ================================================================ views

    /// @inheritdoc IFeeLedger
    function depositOf(address account) external view returns (uint256) {
        return _deposits[account];
    }

    /// @inheritdoc IFeeLedger
    function earningsOf(address account) external view returns (uint256) {
        return _earnings[account] & ~EARNED;
    }

    /// @inheritdoc IFeeLedger
    function treasuryAccrued() external view returns (uint256) {
        return _treasuryAccrued;
    }

    /// @inheritdoc IFeeLedger
    function stakerRewardsAccrued() external view returns (uint256) {
        return _stakerAccrued;
    }

    /// @inheritdoc IFeeLedger
    function payerModule(uint8 id) external view returns (address module, bool allowed) {
        Module memory m = _modules[id];
        return (m.module, m.allowed);
    }

    /// @inheritdoc IFeeLedger
    function payerModuleId(address module) external view returns (uint8) {
        return _moduleIds[module];
    }

    // ================================================================ internals

    function _deposit(address account, uint256 amount) private {
        require(amount != 0, FeeLedgerZeroAmount());
        _deposits[account] += amount;
        emit Deposited(account, msg.sender, amount);
        _pull(msg.sender, amount);
    }

    function _debit(address account, uint256 amount) private {
        uint256 balance = _deposits[account];
        require(balance >= amount, FeeLedgerInsufficientDeposit(account, balance, amount));
        unchecked {
            _deposits[account] = balance - amount; // checked just above
        }
    }

    function _payTreasury(address treasury, address to) private returns (uint256 amount) {
        amount = _treasuryAccrued;
        require(amount != 0, FeeLedgerNothingToWithdraw(treasury));
        _treasuryAccrued = 0;
        emit TreasuryWithdrawn(treasury, to, amount);
        feeToken.safeTransfer(to, amount);
    }

    /// @dev Pays `account`'s stored earnings plus `extra` (credited in memory by a claim) to `to`.
    function _payEarnings(address account, address to, uint256 extra) private returns (uint256 amount) {
        amount = extra;
        uint256 stored = _earnings[account] & ~EARNED;
        if (stored != 0) {
            _earnings[account] = EARNED;
            amount += stored;
        }
        if (amount != 0) {
            emit EarningsWithdrawn(account, to, amount);
            feeToken.safeTransfer(to, amount);
        }
    }

    /// @dev Balance-delta check: fee-on-transfer tokens are rejected rather than under-collateralising the ledger.
    function _pull(address from, uint256 amount) private {
        uint256 before = feeToken.balanceOf(address(this));
        feeToken.safeTransferFrom(from, address(this), amount);
        uint256 received = feeToken.balanceOf(address(this)) - before;
        require(received == amount, FeeLedgerTransferMismatch(amount, received));
    }
}
