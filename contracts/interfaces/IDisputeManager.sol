// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

/// @title IDisputeManager
/// @notice Permissionless verification of job results by committee re-execution (see docs/verification.md).
/// One dispute per job, identified by the job id. A dispute starts either by a challenge (anyone, during the
/// job's challenge window, posting a bond in the staking token) or, for a job whose operators disagreed, by
/// anyone with no bond. A committee of `committeeSize` operators serving the model, excluding the job's own
/// operators, is then drawn stake-weighted from the hash of a block strictly after the start; members re-run
/// the job and vote by commit-reveal for the result hash they reproduce, or NONE (bytes32(0)) when no operator
/// result matches theirs. One member, one vote: members are fixed at the draw, so stake added later has no say.
/// After the reveal window anyone resolves: a strict majority of at least `quorum` revealed votes decides;
/// anything else is "no decision" (the requester is refunded, nobody is slashed but non-voting members, the
/// challenger's bond comes back). Operators whose revealed result lost are slashed `operatorSlash` (fixed at
/// the start), unless at least `boundaryVotes` members reproduced their result (an honest rounding-boundary
/// split). Slashed stake and forfeited bonds pay the challenger, the majority voters, the winning operators
/// and the treasury by the shares in Params; every payout is pull-based (`claim`).
interface IDisputeManager {
    enum Status {
        None,
        Drawing, // waiting for the committee draw (from block `drawBlock`, before `drawBy`)
        Voting, // committee drawn: commit until `commitEnd`, reveal until `revealEnd`
        Resolved // terminal
    }

    struct Params {
        // slot 0
        uint96 challengeBond; // staking-token bond a challenger posts
        uint96 operatorSlash; // slashed from each operator whose result lost
        uint16 drawDelayBlocks; // the committee is drawn from the hash of block (start + drawDelayBlocks)
        uint32 drawWindow; // seconds after the start by which the committee must be drawn
        // slot 1
        uint96 memberCollateral; // staking-token collateral locked from each committee member
        uint96 nonVoterSlash; // slashed from a member that does not reveal a vote (<= memberCollateral)
        uint32 commitWindow; // seconds members have to commit, from the draw
        uint32 revealWindow; // seconds members have to reveal, after the commit window
        // slot 2
        uint8 committeeSize;
        uint8 quorum; // minimum revealed votes for a decision
        uint8 boundaryVotes; // votes for a losing result that spare its operators the slash
        uint16 challengerBps; // right challenger: share of the operators' slashed stake
        uint16 votersBps; // majority voters: share of everything slashed or forfeited
        uint16 bondToOperatorsBps; // wrong challenger: share of the bond to the operators it accused
        address treasury; // the remainder
    }

    struct DisputeView {
        Status status;
        bool decided; // Resolved with a majority
        address challenger; // zero for a disagreement
        uint96 bond;
        bytes32 challenged; // the proposed result a challenge disputes; zero for a disagreement
        uint64 drawBlock;
        uint32 drawBy;
        uint32 commitEnd;
        uint32 revealEnd;
        uint8 revealed;
        bytes32 winner; // the winning result hash (NONE = bytes32(0) also when undecided: see `decided`)
        address[] members;
        Params params; // the parameters fixed at the start
    }

    struct Ballot {
        bytes32 commitment;
        bytes32 vote; // valid once `revealed`
        bool revealed;
    }

    event DisputeStarted(
        uint256 indexed jobId, address indexed challenger, uint256 bond, bytes32 challenged, uint64 drawBlock, uint32 drawBy
    );
    event DrawRetargeted(uint256 indexed jobId, uint64 oldBlock, uint64 newBlock);
    event CommitteeDrawn(uint256 indexed jobId, address[] members, uint32 commitEnd, uint32 revealEnd);
    event VoteCommitted(uint256 indexed jobId, uint8 index, address indexed member);
    event VoteRevealed(uint256 indexed jobId, uint8 index, address indexed member, bytes32 vote);
    event OperatorSlashed(uint256 indexed jobId, address indexed operator, bytes32 result, uint256 amount);
    event MemberSlashed(uint256 indexed jobId, address indexed member, uint256 amount);
    event DisputeResolved(
        uint256 indexed jobId, bool decided, bytes32 winner, uint8 revealed, uint256 slashed, uint256 toTreasury
    );
    event RewardCredited(uint256 indexed jobId, address indexed account, uint256 amount);
    event Claimed(address indexed account, address indexed to, uint256 amount);
    event ParamsSet(Params params);

    error DisputeManagerAlreadyDisputed(uint256 jobId);
    error DisputeManagerNotDisputed(uint256 jobId, uint8 escrowStatus);
    error DisputeManagerTooLate(uint256 jobId, uint256 votingEnd, uint32 escrowPhaseEnd);
    error DisputeManagerWrongStatus(uint256 jobId, Status status);
    error DisputeManagerDrawTooEarly(uint256 jobId, uint64 drawBlock, uint256 blockNumber);
    error DisputeManagerDrawExpired(uint256 jobId, uint32 drawBy, uint256 nowTs);
    error DisputeManagerNotMember(uint256 jobId, uint256 index, address caller);
    error DisputeManagerCommitClosed(uint256 jobId, uint32 commitEnd, uint256 nowTs);
    error DisputeManagerRevealNotOpen(uint256 jobId, uint32 commitEnd, uint256 nowTs);
    error DisputeManagerRevealClosed(uint256 jobId, uint32 revealEnd, uint256 nowTs);
    error DisputeManagerAlreadyCommitted(uint256 jobId, uint256 index);
    error DisputeManagerAlreadyRevealed(uint256 jobId, uint256 index);
    error DisputeManagerNoCommitment(uint256 jobId, uint256 index);
    error DisputeManagerCommitmentMismatch(uint256 jobId, uint256 index);
    error DisputeManagerZeroCommitment();
    error DisputeManagerNotResolvable(uint256 jobId, Status status, uint256 notBefore, uint256 nowTs);
    error DisputeManagerNothingToClaim(address account);
    error DisputeManagerTransferMismatch(uint256 expected, uint256 received);
    error DisputeManagerParameterOutOfBounds(bytes32 parameter, uint256 value, uint256 min, uint256 max);

    /// @notice Challenges the proposed result of `jobId` within its challenge window: pulls the bond (approve
    /// the staking token first) and opens the dispute in the escrow.
    function challenge(uint256 jobId) external;

    /// @notice Starts the committee process for a job the escrow already holds as Disputed because its
    /// operators disagreed. No bond. Must leave time for the whole vote before the escrow's dispute window ends.
    function startDisagreement(uint256 jobId) external;

    /// @notice Draws the committee once block `drawBlock` is mined. When that block's hash is no longer
    /// available (more than 256 blocks ago) it re-targets a new future block instead and returns false.
    function drawCommittee(uint256 jobId) external returns (bool drawn);

    /// @notice Committee member `index` commits to keccak256(this, chainid, jobId, member, vote, salt).
    function commitVote(uint256 jobId, uint8 index, bytes32 commitment) external;

    /// @notice Reveals a vote: the result hash the member reproduced, or NONE (bytes32(0)). A hash that is no
    /// operator's revealed result counts as NONE.
    function revealVote(uint256 jobId, uint8 index, bytes32 vote, bytes32 salt) external;

    /// @notice Resolves after the reveal window (or, when no committee was drawn, after `drawBy`): settles
    /// the job in the escrow, slashes, and credits the rewards.
    function resolve(uint256 jobId) external;

    /// @notice Withdraws the caller's credited rewards and returned bonds (staking token). Never paused.
    function claim(address to) external returns (uint256 amount);

    function getDispute(uint256 jobId) external view returns (DisputeView memory);

    function ballot(uint256 jobId, uint8 index) external view returns (Ballot memory);

    function votesFor(uint256 jobId, bytes32 vote) external view returns (uint256);

    function claimable(address account) external view returns (uint256);

    function params() external view returns (Params memory);

    function voteCommitment(uint256 jobId, address member, bytes32 vote, bytes32 salt) external view returns (bytes32);
}
