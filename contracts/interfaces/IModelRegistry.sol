// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

/// @title IModelRegistry
/// @notice Registry of ONNX models. A model's id is the sha256 of its ONNX bytes: workers hash the file they
/// serve and refuse a mismatch. Each model has one pool price per job and operator, an owner royalty,
/// a default redundancy, the runtime profile that decides bit-exactness, the comparator that decides
/// what "the same result" means, and the model's input/output signature. The id, the profile and the signature are
/// fixed at registration (the bytes they describe cannot change).
interface IModelRegistry {
    /// @notice How two results are compared: exact canonical bytes, or floats rounded to `precision` decimal
    /// places before hashing (see docs/verification.md).
    enum ComparatorKind {
        Exact,
        Rounded
    }

    /// @notice The settings that decide whether two operators produce the same bits.
    struct RuntimeProfile {
        uint16 opset;
        string ortVersion; // e.g. "1.30.0"
        string executionProvider; // e.g. "cpu", "cuda"
        uint8 graphOptimizationLevel; // 0 disabled, 1 basic, 2 extended, 3 all
        bool sequential; // sequential execution mode
    }

    struct ModelParams {
        uint80 price; // fee-token base units per job and per operator slot
        uint16 royaltyBps; // owner's share of each job fee (capped by the escrow's governance limit)
        uint8 redundancy; // default k when a job asks for 0
        ComparatorKind comparator;
        uint8 precision; // decimal places, for ComparatorKind.Rounded
        string metadataURI;
        RuntimeProfile profile;
        /// @dev The model's inputs and outputs (names, dtypes, dims with symbolic dims) as canonical compact JSON,
        /// `{"inputs":[{"dims":[...],"name":"x","type":"float32"}],"outputs":[...]}` (docs/models.md). Clients check
        /// job inputs against it before they sign. Empty = not declared (e.g. registered by id without the file):
        /// clients can then check nothing. Not parsed on-chain; at most MAX_IO_SIGNATURE_BYTES.
        string ioSignature;
    }

    struct Model {
        // slot 0
        address owner;
        uint80 price;
        uint16 royaltyBps;
        // slot 1
        uint24 index;
        uint8 redundancy;
        ComparatorKind comparator;
        uint8 precision;
        bool active;
        uint40 registeredAt;
        string metadataURI;
        RuntimeProfile profile;
        string ioSignature; // immutable, see ModelParams.ioSignature
    }

    event ModelRegistered(
        bytes32 indexed modelId,
        address indexed owner,
        uint24 index,
        uint80 price,
        uint16 royaltyBps,
        uint8 redundancy,
        ComparatorKind comparator,
        uint8 precision,
        string metadataURI,
        RuntimeProfile profile,
        string ioSignature
    );
    event ModelPriceUpdated(bytes32 indexed modelId, uint80 oldPrice, uint80 newPrice);
    event ModelRoyaltyUpdated(bytes32 indexed modelId, uint16 royaltyBps);
    event ModelActiveSet(bytes32 indexed modelId, bool active);
    event ModelMetadataUpdated(bytes32 indexed modelId, string metadataURI);
    event ModelOwnershipTransferred(bytes32 indexed modelId, address indexed from, address indexed to);

    error ModelRegistryZeroId();
    error ModelRegistryAlreadyRegistered(bytes32 modelId);
    error ModelRegistryUnknownModel(bytes32 modelId);
    error ModelRegistryUnknownIndex(uint256 index);
    error ModelRegistryNotOwner(bytes32 modelId, address caller, address owner);
    error ModelRegistryZeroPrice();
    error ModelRegistryInvalidRoyalty(uint16 royaltyBps, uint16 max);
    error ModelRegistryInvalidRedundancy(uint8 redundancy, uint8 max);
    error ModelRegistryInvalidPrecision(uint8 precision, uint8 max);
    error ModelRegistryZeroAddress();
    error ModelRegistryTooManyModels();
    error ModelRegistrySignatureTooLong(uint256 length, uint256 max);

    /// @notice Registers a model; the caller becomes its owner. Returns its compact index.
    function registerModel(bytes32 modelId, ModelParams calldata params) external returns (uint24 index);

    /// @notice Changes the pool price. Jobs in flight keep the price they paid; new jobs are protected by
    /// their max fee.
    function setPrice(bytes32 modelId, uint80 price) external;

    function setRoyalty(bytes32 modelId, uint16 royaltyBps) external;

    /// @notice A deactivated model accepts no new jobs and no new operators; jobs in flight finish.
    function setActive(bytes32 modelId, bool active) external;

    function setMetadataURI(bytes32 modelId, string calldata uri) external;

    function transferModelOwnership(bytes32 modelId, address newOwner) external;

    function getModel(bytes32 modelId) external view returns (Model memory);

    function modelIdAt(uint256 index) external view returns (bytes32);

    function modelCount() external view returns (uint256);

    /// @notice What the escrow needs at submission, in one call (the royalty is fixed into the job there).
    function jobTerms(bytes32 modelId)
        external
        view
        returns (uint24 index, uint80 price, uint8 redundancy, bool active, uint16 royaltyBps);

    /// @notice Who earns the royalty of model `index`, and how much.
    function payee(uint256 index) external view returns (address owner, uint16 royaltyBps);

    /// @notice Index of a registered, active model (reverts otherwise), for operators opting in.
    function activeIndex(bytes32 modelId) external view returns (uint24);
}
