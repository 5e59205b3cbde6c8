// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

import {AccessManaged} from "@openzeppelin/contracts/access/manager/AccessManaged.sol";
import {IModelRegistry} from "./interfaces/IModelRegistry.sol";
import {PausableActions} from "./libraries/PausableActions.sol";

/// @title ModelRegistry
/// @notice Registry of ONNX models by content hash; see IModelRegistry for the documentation of each function.
contract ModelRegistry is IModelRegistry, AccessManaged, PausableActions {
    uint8 public constant ACTION_REGISTER = 0;
    uint8 public constant MAX_REDUNDANCY = 7;
    uint8 public constant MAX_PRECISION = 18;
    uint16 public constant MAX_ROYALTY_BPS = 10_000;
    /// @notice Longest I/O signature accepted (bytes of its JSON), so getModel stays a bounded read.
    uint256 public constant MAX_IO_SIGNATURE_BYTES = 16_384;

    /// @dev What the escrow reads per job, one slot each (copies of fields of `_models`, kept in step by every
    /// setter): the submission terms by id, and the payee by compact index.
    struct Terms {
        uint24 index; // 0 = unknown model
        uint80 price;
        uint8 redundancy;
        bool active;
        uint16 royaltyBps; // copy of the payee's, so the escrow fixes a job's royalty from this one read
    }

    struct Payee {
        address owner; // never 0 for a registered model
        uint16 royaltyBps;
    }

    mapping(bytes32 modelId => Model) private _models;
    bytes32[] private _ids; // index i holds the model with compact index i + 1
    mapping(bytes32 modelId => Terms) private _terms;
    mapping(uint256 index => Payee) private _payees;

    constructor(address authority) AccessManaged(authority) {}

    /// @notice Pauses or resumes model registration.
    function setPaused(uint8 action, bool paused) external restricted {
        _setPaused(action, paused);
    }

    /// @inheritdoc IModelRegistry
    function registerModel(bytes32 modelId, ModelParams calldata params)
        external
        whenActive(ACTION_REGISTER)
        returns (uint24 index)
    {
        require(modelId != bytes32(0), ModelRegistryZeroId());
        require(_models[modelId].owner == address(0), ModelRegistryAlreadyRegistered(modelId));
        _checkParams(params.price, params.royaltyBps);
        require(
            params.redundancy >= 1 && params.redundancy <= MAX_REDUNDANCY,
            ModelRegistryInvalidRedundancy(params.redundancy, MAX_REDUNDANCY)
        );
        require(params.precision <= MAX_PRECISION, ModelRegistryInvalidPrecision(params.precision, MAX_PRECISION));
        require(
            bytes(params.ioSignature).length <= MAX_IO_SIGNATURE_BYTES,
            ModelRegistrySignatureTooLong(bytes(params.ioSignature).length, MAX_IO_SIGNATURE_BYTES)
        );
        require(_ids.length < type(uint24).max, ModelRegistryTooManyModels());

        _ids.push(modelId);
        index = uint24(_ids.length);
        Model storage m = _models[modelId];
        m.owner = msg.sender;
        m.price = params.price;
        m.royaltyBps = params.royaltyBps;
        m.index = index;
        m.redundancy = params.redundancy;
        m.comparator = params.comparator;
        m.precision = params.precision;
        m.active = true;
        m.registeredAt = uint40(block.timestamp);
        m.metadataURI = params.metadataURI;
        m.profile = params.profile;
        m.ioSignature = params.ioSignature;
        _terms[modelId] = Terms(index, params.price, params.redundancy, true, params.royaltyBps);
        _payees[index] = Payee(msg.sender, params.royaltyBps);
        emit ModelRegistered(
            modelId,
            msg.sender,
            index,
            params.price,
            params.royaltyBps,
            params.redundancy,
            params.comparator,
            params.precision,
            params.metadataURI,
            params.profile,
            params.ioSignature
        );
    }

    /// @inheritdoc IModelRegistry
    function setPrice(bytes32 modelId, uint80 price) external {
        Model storage m = _owned(modelId);
        require(price != 0, ModelRegistryZeroPrice());
        uint80 old = m.price;
        m.price = price;
        _terms[modelId].price = price;
        emit ModelPriceUpdated(modelId, old, price);
    }

    /// @inheritdoc IModelRegistry
    function setRoyalty(bytes32 modelId, uint16 royaltyBps) external {
        Model storage m = _owned(modelId);
        require(royaltyBps <= MAX_ROYALTY_BPS, ModelRegistryInvalidRoyalty(royaltyBps, MAX_ROYALTY_BPS));
        m.royaltyBps = royaltyBps;
        _payees[m.index].royaltyBps = royaltyBps;
        _terms[modelId].royaltyBps = royaltyBps;
        emit ModelRoyaltyUpdated(modelId, royaltyBps);
    }

    /// @inheritdoc IModelRegistry
    function setActive(bytes32 modelId, bool active) external {
        Model storage m = _owned(modelId);
        m.active = active;
        _terms[modelId].active = active;
        emit ModelActiveSet(modelId, active);
    }

    /// @inheritdoc IModelRegistry
    function setMetadataURI(bytes32 modelId, string calldata uri) external {
        Model storage m = _owned(modelId);
        m.metadataURI = uri;
        emit ModelMetadataUpdated(modelId, uri);
    }

    /// @inheritdoc IModelRegistry
    function transferModelOwnership(bytes32 modelId, address newOwner) external {
        Model storage m = _owned(modelId);
        require(newOwner != address(0), ModelRegistryZeroAddress());
        m.owner = newOwner;
        _payees[m.index].owner = newOwner;
        emit ModelOwnershipTransferred(modelId, msg.sender, newOwner);
    }

    /// @inheritdoc IModelRegistry
    function getModel(bytes32 modelId) external view returns (Model memory) {
        Model storage m = _models[modelId];
        require(m.owner != address(0), ModelRegistryUnknownModel(modelId));
        return m;
    }

    /// @inheritdoc IModelRegistry
    function modelIdAt(uint256 index) public view returns (bytes32) {
        require(index != 0 && index <= _ids.length, ModelRegistryUnknownIndex(index));
        return _ids[index - 1];
    }

    /// @inheritdoc IModelRegistry
    function modelCount() external view returns (uint256) {
        return _ids.length;
    }

    /// @inheritdoc IModelRegistry
    function jobTerms(bytes32 modelId)
        external
        view
        returns (uint24 index, uint80 price, uint8 redundancy, bool active, uint16 royaltyBps)
    {
        Terms memory t = _terms[modelId];
        require(t.index != 0, ModelRegistryUnknownModel(modelId));
        return (t.index, t.price, t.redundancy, t.active, t.royaltyBps);
    }

    /// @inheritdoc IModelRegistry
    function payee(uint256 index) external view returns (address owner, uint16 royaltyBps) {
        Payee memory p = _payees[index];
        require(p.owner != address(0), ModelRegistryUnknownIndex(index));
        return (p.owner, p.royaltyBps);
    }

    /// @inheritdoc IModelRegistry
    function activeIndex(bytes32 modelId) external view returns (uint24) {
        Model storage m = _models[modelId];
        require(m.owner != address(0) && m.active, ModelRegistryUnknownModel(modelId));
        return m.index;
    }

    function _owned(bytes32 modelId) private view returns (Model storage m) {
        m = _models[modelId];
        require(m.owner != address(0), ModelRegistryUnknownModel(modelId));
        require(m.owner == msg.sender, ModelRegistryNotOwner(modelId, msg.sender, m.owner));
    }

    function _checkParams(uint80 price, uint16 royaltyBps) private pure {
        require(price != 0, ModelRegistryZeroPrice());
        require(royaltyBps <= MAX_ROYALTY_BPS, ModelRegistryInvalidRoyalty(royaltyBps, MAX_ROYALTY_BPS));
    }
}
