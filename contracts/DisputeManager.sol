// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

import {AccessManaged} from "@openzeppelin/contracts/access/manager/AccessManaged.sol";
import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {SafeERC20} from "@openzeppelin/contracts/token/ERC20/utils/SafeERC20.sol";
import {ReentrancyGuardTransient} from "@openzeppelin/contracts/utils/ReentrancyGuardTransient.sol";
import {IDisputeManager} from "./interfaces/IDisputeManager.sol";
import {IJobEscrow, IVeilEscrow} from "./interfaces/IJobEscrow.sol";
import {JobId} from "./types/JobId.sol";
import {INodeStaking} from "./interfaces/INodeStaking.sol";
import {IModelRegistry} from "./interfaces/IModelRegistry.sol";
import {DisputeMath} from "./libraries/DisputeMath.sol";

/// @title DisputeManager
/// @notice Challenges, committee re-execution and slashing for wrong results; see IDisputeManager and
/// docs/verification.md. Holds the DISPUTER role on the escrow and is on NodeStaking's protocol allowlist (setProtocolContract).
/// @dev Every loop is bounded: job operators by the escrow's MAX_REDUNDANCY (7), members by MAX_COMMITTEE.
contract DisputeManager is IDisputeManager, AccessManaged, ReentrancyGuardTransient {
    using SafeERC20 for IERC20;

    uint8 public constant MAX_COMMITTEE = 15;
    /// @dev Time left after the last vote, inside the escrow's dispute window, for anyone to resolve.
    uint256 public constant MIN_RESOLVE_GRACE = 1 hours;
    bytes32 public constant NONE = bytes32(0);

    struct Dispute {
        // slot 0
        address challenger;
        uint96 bond;
        // slot 1
        Status status;
        bool decided;
        uint8 revealed;
        uint8 topVotes;
        uint24 modelIndex;
        uint64 drawBlock;
        uint32 drawBy;
        uint32 commitEnd;
        uint32 revealEnd;
        // slots 2-3
        bytes32 challenged;
        bytes32 top; // the most-voted option so far (the first to reach the highest count)
        // slots 4-6: fixed at the start (the slash amount, windows, shares)
        Params params;
        address[] members;
    }

    IVeilEscrow public immutable escrow;
    INodeStaking public immutable staking;
    IModelRegistry public immutable registry;
    IERC20 public immutable stakingToken;

    Params private _params;
    uint256 private _totalClaimable;

    mapping(uint256 jobId => Dispute) private _disputes;
    mapping(uint256 jobId => mapping(uint256 index => Ballot)) private _ballots;
    mapping(uint256 jobId => mapping(bytes32 vote => uint256)) private _votes;
    mapping(uint256 jobId => mapping(bytes32 result => bool)) private _candidates;
    mapping(address account => uint256) private _claimable;

    constructor(
        address authority,
        IVeilEscrow escrow_,
        INodeStaking staking_,
        IModelRegistry registry_,
        IERC20 stakingToken_,
        Params memory params_
    ) AccessManaged(authority) {
        escrow = escrow_;
        staking = staking_;
        registry = registry_;
        stakingToken = stakingToken_;
        _setParams(params_);
    }

    // ================================================================ governance

    /// @notice Parameters for disputes started from now on; disputes in flight keep theirs.
    function setParams(Params calldata params_) external restricted {
        _setParams(params_);
    }

    // ================================================================ starting

    /// @inheritdoc IDisputeManager
    function challenge(uint256 jobId) external nonReentrant {
        IJobEscrow.JobView memory job = escrow.getJob(JobId.wrap(jobId));
        require(
            job.status == IJobEscrow.Status.Proposed, DisputeManagerNotDisputed(jobId, uint8(job.status))
        );
        uint96 bond = _start(jobId, job, msg.sender, block.timestamp + escrow.paramsAt(job.termsVersion).disputeWindow);
        // Interactions last: the bond (balance delta), then the escrow, which checks the challenge window.
        uint256 before = stakingToken.balanceOf(address(this));
        stakingToken.safeTransferFrom(msg.sender, address(this), bond);
        uint256 received = stakingToken.balanceOf(address(this)) - before;
        require(received == bond, DisputeManagerTransferMismatch(bond, received));
        escrow.openDispute(JobId.wrap(jobId));
    }

    /// @inheritdoc IDisputeManager
    function startDisagreement(uint256 jobId) external {
        IJobEscrow.JobView memory job = escrow.getJob(JobId.wrap(jobId));
        require(
            job.status == IJobEscrow.Status.Disputed, DisputeManagerNotDisputed(jobId, uint8(job.status))
        );
        _start(jobId, job, address(0), job.phaseEnd);
    }

    // ================================================================ committee

    /// @inheritdoc IDisputeManager
    function drawCommittee(uint256 jobId) external nonReentrant returns (bool drawn) {
        Dispute storage d = _disputes[jobId];
        _expectStatus(jobId, d.status, Status.Drawing);
        require(block.timestamp <= d.drawBy, DisputeManagerDrawExpired(jobId, d.drawBy, block.timestamp));
        uint64 target = d.drawBlock;
        require(block.number > target, DisputeManagerDrawTooEarly(jobId, target, block.number));
        bytes32 hash = blockhash(target);
        if (hash == bytes32(0)) {
            // More than 256 blocks ago: aim at a new future block rather than at a value anyone can predict.
            uint64 next = uint64(block.number + d.params.drawDelayBlocks);
            d.drawBlock = next;
            emit DrawRetargeted(jobId, target, next);
            return false;
        }
        // The block hash commits to that block's prevrandao (its header's mixHash); the call's own block
        // plays no part, so the caller cannot pick a committee by choosing when to call.
        uint256 seed = uint256(keccak256(abi.encode(hash, address(this), block.chainid, jobId)));
        Params storage p = d.params;
        uint32 commitEnd = uint32(block.timestamp + p.commitWindow); // drawBy + windows < escrow's uint32 end
        uint32 revealEnd = commitEnd + p.revealWindow;
        d.status = Status.Voting;
        d.commitEnd = commitEnd;
        d.revealEnd = revealEnd;
        address[] memory exclude = escrow.getJob(JobId.wrap(jobId)).operators;
        address[] memory members = staking.assign(d.modelIndex, p.committeeSize, seed, p.memberCollateral, exclude);
        d.members = members;
        emit CommitteeDrawn(jobId, members, commitEnd, revealEnd);
        return true;
    }

    /// @inheritdoc IDisputeManager
    function commitVote(uint256 jobId, uint8 index, bytes32 commitment) external {
        Dispute storage d = _disputes[jobId];
        _expectMember(jobId, d, index);
        require(block.timestamp <= d.commitEnd, DisputeManagerCommitClosed(jobId, d.commitEnd, block.timestamp));
        require(commitment != bytes32(0), DisputeManagerZeroCommitment());
        Ballot storage b = _ballots[jobId][index];
        require(b.commitment == bytes32(0), DisputeManagerAlreadyCommitted(jobId, index));
        b.commitment = commitment;
        emit VoteCommitted(jobId, index, msg.sender);
    }

    /// @inheritdoc IDisputeManager
    function revealVote(uint256 jobId, uint8 index, bytes32 vote, bytes32 salt) external {
        Dispute storage d = _disputes[jobId];
        _expectMember(jobId, d, index);
        // Reveals open only after every commitment is in, so nobody can copy a revealed vote.
        require(block.timestamp > d.commitEnd, DisputeManagerRevealNotOpen(jobId, d.commitEnd, block.timestamp));
        require(block.timestamp <= d.revealEnd, DisputeManagerRevealClosed(jobId, d.revealEnd, block.timestamp));
        Ballot storage b = _ballots[jobId][index];
        require(b.commitment != bytes32(0), DisputeManagerNoCommitment(jobId, index));
        require(!b.revealed, DisputeManagerAlreadyRevealed(jobId, index));
        require(
            b.commitment == _voteCommitment(jobId, msg.sender, vote, salt),
            DisputeManagerCommitmentMismatch(jobId, index)
        );
        if (!_candidates[jobId][vote]) vote = NONE; // reproduces no operator's result
        b.vote = vote;
        b.revealed = true;
        uint256 count = ++_votes[jobId][vote]; // <= MAX_COMMITTEE
        unchecked {
            ++d.revealed; // one per member, <= MAX_COMMITTEE
        }
        // Strictly greater: on a tie the earlier leader stays, and a tie can never be a strict majority.
        if (count > d.topVotes) {
            d.topVotes = uint8(count);
            d.top = vote;
        }
        emit VoteRevealed(jobId, index, msg.sender, vote);
    }

    // ================================================================ resolution

    /// @inheritdoc IDisputeManager
    function resolve(uint256 jobId) external nonReentrant {
        Dispute storage d = _disputes[jobId];
        Status status = d.status;
        if (status == Status.Drawing) {
            require(
                block.timestamp > d.drawBy,
                DisputeManagerNotResolvable(jobId, status, uint256(d.drawBy) + 1, block.timestamp)
            );
        } else if (status == Status.Voting) {
            require(
                block.timestamp > d.revealEnd,
                DisputeManagerNotResolvable(jobId, status, uint256(d.revealEnd) + 1, block.timestamp)
            );
        } else {
            revert DisputeManagerWrongStatus(jobId, status);
        }
        Params memory p = d.params;
        // Strict majority of at least `quorum` revealed votes; a tie is never a strict majority.
        bool decided = status == Status.Voting && d.revealed >= p.quorum && uint256(d.topVotes) * 2 > d.revealed;
        bytes32 winner = decided ? d.top : NONE;
        d.status = Status.Resolved;
        d.decided = decided;
        d.top = winner;

        // Settle the job: pays the operators whose result won, or refunds the requester (NONE or undecided).
        // The escrow may already have refunded it by `poke` after its dispute window: the vote still counts.
        IJobEscrow.JobView memory job = escrow.getJob(JobId.wrap(jobId));
        if (job.status == IJobEscrow.Status.Disputed) escrow.resolveDispute(JobId.wrap(jobId), winner);

        Tally memory t;
        if (decided) t = _slashOperators(jobId, job, winner, p);
        if (status == Status.Voting) _settleMembers(jobId, d, winner, decided, p, t);
        _pay(jobId, d, winner, decided, p, t);
    }

    /// @inheritdoc IDisputeManager
    function claim(address to) external nonReentrant returns (uint256 amount) {
        amount = _claimable[msg.sender];
        require(amount != 0, DisputeManagerNothingToClaim(msg.sender));
        _claimable[msg.sender] = 0;
        _totalClaimable -= amount;
        emit Claimed(msg.sender, to, amount);
        stakingToken.safeTransfer(to, amount);
    }

    // ================================================================ views

    /// @inheritdoc IDisputeManager
    function getDispute(uint256 jobId) external view returns (DisputeView memory v) {
        Dispute storage d = _disputes[jobId];
        v.status = d.status;
        v.decided = d.decided;
        v.challenger = d.challenger;
        v.bond = d.bond;
        v.challenged = d.challenged;
        v.drawBlock = d.drawBlock;
        v.drawBy = d.drawBy;
        v.commitEnd = d.commitEnd;
        v.revealEnd = d.revealEnd;
        v.revealed = d.revealed;
        v.winner = d.status == Status.Resolved ? d.top : NONE;
        v.members = d.members;
        v.params = d.params;
    }

    /// @inheritdoc IDisputeManager
    function ballot(uint256 jobId, uint8 index) external view returns (Ballot memory) {
        return _ballots[jobId][index];
    }

    /// @inheritdoc IDisputeManager
    function votesFor(uint256 jobId, bytes32 vote) external view returns (uint256) {
        return _votes[jobId][vote];
    }

    /// @inheritdoc IDisputeManager
    function claimable(address account) external view returns (uint256) {
        return _claimable[account];
    }

    /// @notice Sum of every account's claimable balance (the contract holds at least this plus open bonds).
    function totalClaimable() external view returns (uint256) {
        return _totalClaimable;
    }

    /// @inheritdoc IDisputeManager
    function params() external view returns (Params memory) {
        return _params;
    }

    /// @inheritdoc IDisputeManager
    function voteCommitment(uint256 jobId, address member, bytes32 vote, bytes32 salt) external view returns (bytes32) {
        return _voteCommitment(jobId, member, vote, salt);
    }

    // ================================================================ internals

    /// @dev What resolution slashed and whom it pays, gathered across the two loops.
    struct Tally {
        uint256 operatorSlashed;
        uint256 memberSlashed;
        address[] winners; // operators whose result won
        uint256 winnerCount;
        address[] voters; // members that voted with the majority
        uint256 voterCount;
    }

    function _start(uint256 jobId, IJobEscrow.JobView memory job, address challenger, uint256 escrowEnd)
        private
        returns (uint96 bond)
    {
        Dispute storage d = _disputes[jobId];
        Params memory p = _params;
        require(d.status == Status.None, DisputeManagerAlreadyDisputed(jobId));
        // The whole vote, and time to resolve it, must fit before the escrow refunds the job on its own.
        uint256 votingEnd = block.timestamp + p.drawWindow + p.commitWindow + p.revealWindow;
        require(
            votingEnd + MIN_RESOLVE_GRACE <= escrowEnd,
            DisputeManagerTooLate(jobId, votingEnd, uint32(escrowEnd))
        );
        (uint24 modelIndex,,,,) = registry.jobTerms(job.modelId);
        uint64 drawBlock = uint64(block.number + p.drawDelayBlocks);
        uint32 drawBy = uint32(block.timestamp + p.drawWindow); // < escrowEnd, a uint32
        bytes32 challenged = challenger == address(0) ? NONE : job.result;
        bond = challenger == address(0) ? 0 : p.challengeBond;
        d.challenger = challenger;
        d.bond = bond;
        d.status = Status.Drawing;
        d.modelIndex = modelIndex;
        d.drawBlock = drawBlock;
        d.drawBy = drawBy;
        d.challenged = challenged;
        d.params = p;
        _markCandidates(jobId, job);
        emit DisputeStarted(jobId, challenger, bond, challenged, drawBlock, drawBy);
    }

    /// @dev The results the committee can vote for: every revealed operator result (k = 1: the posted one).
    function _markCandidates(uint256 jobId, IJobEscrow.JobView memory job) private {
        uint256 k = job.operators.length;
        for (uint256 i; i < k; ++i) {
            if (k == 1 || job.revealMask & (1 << i) != 0) _candidates[jobId][job.slotHashes[i]] = true;
        }
    }

    /// @dev Slashes every operator whose revealed result lost, once: a dispute resolves once and the escrow
    /// allows one dispute per job. Spared when at least `boundaryVotes` members reproduced its result.
    function _slashOperators(uint256 jobId, IJobEscrow.JobView memory job, bytes32 winner, Params memory p)
        private
        returns (Tally memory t)
    {
        uint256 k = job.operators.length;
        t.winners = new address[](k);
        for (uint256 i; i < k; ++i) {
            if (k > 1 && job.revealMask & (1 << i) == 0) continue; // missed: penalised by the escrow
            bytes32 result = job.slotHashes[i];
            address op = job.operators[i];
            if (result == winner) {
                t.winners[t.winnerCount++] = op;
                continue;
            }
            if (_votes[jobId][result] >= p.boundaryVotes) continue;
            // The job's collateral is released by the escrow; the slash reaches the whole stake, unbonding
            // included (unbonding outlasts the escrow's longest slashable window).
            uint256 slashed = staking.slash(op, 0, p.operatorSlash, address(this));
            t.operatorSlashed += slashed;
            emit OperatorSlashed(jobId, op, result, slashed);
        }
    }

    /// @dev Releases the collateral of members that revealed, slashes the others.
    function _settleMembers(
        uint256 jobId,
        Dispute storage d,
        bytes32 winner,
        bool decided,
        Params memory p,
        Tally memory t
    ) private {
        address[] memory members = d.members;
        uint256 n = members.length;
        t.voters = new address[](n);
        for (uint256 i; i < n; ++i) {
            Ballot storage b = _ballots[jobId][i];
            address member = members[i];
            if (b.revealed) {
                staking.release(member, p.memberCollateral);
                if (decided && b.vote == winner) t.voters[t.voterCount++] = member;
                continue;
            }
            uint256 slashed = staking.slash(member, p.memberCollateral, p.nonVoterSlash, address(this));
            t.memberSlashed += slashed;
            emit MemberSlashed(jobId, member, slashed);
        }
    }

    function _pay(uint256 jobId, Dispute storage d, bytes32 winner, bool decided, Params memory p, Tally memory t)
        private
    {
        address challenger = d.challenger;
        uint256 bond = d.bond;
        bool challengerWrong = challenger != address(0) && decided && winner == d.challenged;
        bool challengerRight = challenger != address(0) && decided && winner != d.challenged;
        DisputeMath.Shares memory s = DisputeMath.split(
            t.operatorSlashed,
            t.memberSlashed,
            challengerWrong ? bond : 0,
            challengerRight,
            t.winnerCount,
            t.voterCount,
            DisputeMath.Rates(p.challengerBps, p.votersBps, p.bondToOperatorsBps)
        );
        // Bond back unless the challenger lost; undecided disputes return it.
        if (challenger != address(0)) _credit(jobId, challenger, (challengerWrong ? 0 : bond) + s.challenger);
        for (uint256 i; i < t.winnerCount; ++i) {
            _credit(jobId, t.winners[i], s.perWinningOperator);
        }
        for (uint256 i; i < t.voterCount; ++i) {
            _credit(jobId, t.voters[i], s.perVoter);
        }
        _credit(jobId, p.treasury, s.treasury);
        emit DisputeResolved(jobId, decided, winner, d.revealed, t.operatorSlashed + t.memberSlashed, s.treasury);
    }

    function _credit(uint256 jobId, address account, uint256 amount) private {
        if (amount == 0) return;
        _claimable[account] += amount;
        _totalClaimable += amount;
        emit RewardCredited(jobId, account, amount);
    }

    function _expectMember(uint256 jobId, Dispute storage d, uint256 index) private view {
        _expectStatus(jobId, d.status, Status.Voting);
        require(
            index < d.members.length && d.members[index] == msg.sender,
            DisputeManagerNotMember(jobId, index, msg.sender)
        );
    }

    function _expectStatus(uint256 jobId, Status status, Status expected) private pure {
        require(status == expected, DisputeManagerWrongStatus(jobId, status));
    }

    function _voteCommitment(uint256 jobId, address member, bytes32 vote, bytes32 salt)
        private
        view
        returns (bytes32)
    {
        return keccak256(abi.encode(address(this), block.chainid, jobId, member, vote, salt));
    }

    // ================================================================ parameters

    function _setParams(Params memory p) private {
        _bound("committeeSize", p.committeeSize, 1, MAX_COMMITTEE);
        _bound("quorum", p.quorum, uint256(p.committeeSize) / 2 + 1, p.committeeSize);
        _bound("boundaryVotes", p.boundaryVotes, 1, p.committeeSize);
        _bound("challengeBond", p.challengeBond, 1, type(uint96).max);
        _bound("operatorSlash", p.operatorSlash, 1, type(uint96).max);
        _bound("memberCollateral", p.memberCollateral, 1, staking.minStake());
        _bound("nonVoterSlash", p.nonVoterSlash, 0, p.memberCollateral);
        _bound("drawDelayBlocks", p.drawDelayBlocks, 1, 128);
        _bound("drawWindow", p.drawWindow, 10 minutes, 7 days);
        _bound("commitWindow", p.commitWindow, 10 minutes, 7 days);
        _bound("revealWindow", p.revealWindow, 10 minutes, 7 days);
        _bound("challengerBps", uint256(p.challengerBps) + p.votersBps, 0, DisputeMath.BPS);
        _bound("bondToOperatorsBps", uint256(p.bondToOperatorsBps) + p.votersBps, 0, DisputeMath.BPS);
        _bound("treasury", uint160(p.treasury), 1, type(uint160).max);
        // The vote must fit inside the escrow's dispute window (itself inside the slashable window that the
        // unbonding period outlasts), with time left to resolve.
        uint256 disputeWindow = escrow.params().disputeWindow;
        uint256 voting = uint256(p.drawWindow) + p.commitWindow + p.revealWindow;
        _bound("votingWindows", voting, 0, disputeWindow < MIN_RESOLVE_GRACE ? 0 : disputeWindow - MIN_RESOLVE_GRACE);
        uint256 longest = escrow.longestSlashableWindow();
        _bound("unbondingPeriod", staking.unbondingPeriod(), longest + 1, type(uint256).max);
        _params = p;
        emit ParamsSet(p);
    }

    function _bound(bytes32 name, uint256 value, uint256 min, uint256 max) private pure {
        require(value >= min && value <= max, DisputeManagerParameterOutOfBounds(name, value, min, max));
    }
}
