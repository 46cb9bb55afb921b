//! Bindings of the live OARN contracts, written from the published ABI
//! (`../shared/interop/oarn-network.md`), never from our test contracts, so a drift between
//! the two fails the tests instead of hiding.

#![allow(missing_docs, clippy::too_many_arguments)]

use alloy::primitives::{Address, address};
use alloy::sol;

/// Where Arbitrum chains expose [`NodeInterface`]: a protocol precompile, the same on every
/// Arbitrum chain (not an OARN contract address, which only discovery provides).
pub const NODE_INTERFACE: Address = address!("0x00000000000000000000000000000000000000C8");

sol! {
    #[sol(rpc)]
    interface OARNRegistry {
        struct RPCProvider { string endpoint; string onionEndpoint; address owner; uint256 stake;
            uint256 registeredAt; uint256 lastHeartbeat; uint256 uptime; uint256 reportCount; bool isActive; }
        struct BootstrapNode { string peerId; string multiaddr; string onionAddress; string i2pAddress;
            address owner; uint256 stake; uint256 registeredAt; uint256 lastHeartbeat; bool isActive; }
        function taskRegistry() external view returns (address);
        function tokenReward() external view returns (address);
        function validatorRegistry() external view returns (address);
        function governance() external view returns (address);
        function govToken() external view returns (address);
        function taskRegistryV2() external view returns (address);
        function getCoreContracts() external view returns (address taskRegistry, address tokenReward,
            address validatorRegistry, address governance, address govToken);
        function getCoreContractsV2() external view returns (address taskRegistry, address taskRegistryV2,
            address tokenReward, address validatorRegistry, address governance, address govToken);
        function getActiveRPCProviders() external view returns (RPCProvider[] memory);
        function getRandomRPCProviders(uint256 count) external view returns (RPCProvider[] memory);
        function getActiveBootstrapNodes() external view returns (BootstrapNode[] memory);
        function getRandomBootstrapNodes(uint256 count) external view returns (BootstrapNode[] memory);
        function isActiveProvider(address who) external view returns (bool isRpc, bool isBootstrap);
        function registerBootstrapNode(string peerId, string multiaddr, string onionAddress, string i2pAddress) external;
        function updateBootstrapNode(string peerId, string multiaddr, string onionAddress, string i2pAddress) external;
        function registerRPCProvider(string endpoint, string onionEndpoint) external;
        function heartbeat() external;
        event RPCProviderRegistered(uint256 indexed id, address indexed owner, string endpoint);
        event BootstrapNodeRegistered(uint256 indexed id, address indexed owner, string peerId);
        event TaskRegistryV2Updated(address indexed oldAddress, address indexed newAddress);
    }

    #[sol(rpc)]
    interface TaskRegistryV2 {
        enum TaskStatus { Pending, Active, Consensus, Completed, Disputed, Cancelled, Expired }
        enum ConsensusType { Majority, SuperMajority, Unanimous }
        struct NodeResult { address node; bytes32 resultHash; uint256 submittedAt; bool matchesConsensus; bool rewarded; }
        function tasks(uint256 id) external view returns (uint256 id, address requester, bytes32 modelHash,
            bytes32 inputHash, string modelRequirements, uint256 rewardPerNode, uint256 requiredNodes,
            uint256 claimedCount, uint256 submittedCount, uint256 deadline, TaskStatus status,
            ConsensusType consensusType, uint256 createdAt, bytes32 consensusResult);
        function taskCount() external view returns (uint256);
        function activeTaskCount() external view returns (uint256);
        function hasClaimedTask(uint256 taskId, address node) external view returns (bool);
        function hasSubmittedResult(uint256 taskId, address node) external view returns (bool);
        function submitTask(bytes32 modelHash, bytes32 inputHash, string modelRequirements, uint256 rewardPerNode,
            uint256 requiredNodes, uint256 deadline, uint8 consensusType) external payable returns (uint256);
        function submitTask(bytes32 modelHash, bytes32 inputHash, string modelRequirements, uint256 rewardPerNode,
            uint256 requiredNodes, uint256 deadline) external payable returns (uint256);
        function fundTask(uint256 taskId) external payable;
        function claimTask(uint256 taskId) external;
        function submitResult(uint256 taskId, bytes32 resultHash) external;
        function getConsensusStatus(uint256 taskId) external view returns (bytes32 winningHash, uint256 winningCount,
            uint256 totalSubmissions, bool reached, uint256 uniqueResults);
        function getTaskResults(uint256 taskId) external view returns (NodeResult[] memory);
        function didNodeMatchConsensus(uint256 taskId, address node) external view returns (bool);
        event TaskCreated(uint256 indexed taskId, address indexed requester, bytes32 modelHash,
            uint256 rewardPerNode, uint256 requiredNodes, uint8 consensusType);
        event TaskClaimed(uint256 indexed taskId, address indexed node);
        event ResultSubmitted(uint256 indexed taskId, address indexed node, bytes32 resultHash);
        event ConsensusReached(uint256 indexed taskId, bytes32 consensusHash, uint256 agreeingNodes, uint256 totalNodes);
        event ConsensusDisputed(uint256 indexed taskId, uint256 uniqueResults, uint256 highestCount);
        event RewardDistributed(uint256 indexed taskId, address indexed node, uint256 amount, bool matchedConsensus);
        event TaskCompleted(uint256 indexed taskId, uint256 totalRewards);
        event TaskFunded(uint256 indexed taskId, address indexed funder, uint256 fundingAmount, uint256 newRewardPerNode);
    }

    /// COMP and GOV: the ERC-20 surface the node uses.
    #[sol(rpc)]
    interface ERC20 {
        function name() external view returns (string);
        function symbol() external view returns (string);
        function decimals() external view returns (uint8);
        function balanceOf(address owner) external view returns (uint256);
        function transfer(address to, uint256 amount) external returns (bool);
        function approve(address spender, uint256 amount) external returns (bool);
        event Transfer(address indexed from, address indexed to, uint256 value);
    }

    /// Not yet published by the network: the interface this node defines to register as a
    /// premium (validator-routed) node, staking GOV.
    #[sol(rpc)]
    interface ValidatorRegistry {
        struct Validator { address node; string endpoint; uint256 stake; uint256 registeredAt; bool isActive; }
        function govToken() external view returns (address);
        function minStake() external view returns (uint256);
        function isValidator(address node) external view returns (bool);
        function getValidators() external view returns (Validator[] memory);
        function registerValidator(string endpoint, uint256 stake) external;
        event ValidatorRegistered(address indexed node, string endpoint, uint256 stake);
    }

    /// Arbitrum's NodeInterface precompile: the L1 data-posting part of a transaction's gas.
    #[sol(rpc)]
    interface NodeInterface {
        function gasEstimateL1Component(address to, bool contractCreation, bytes calldata data) external payable
            returns (uint64 gasEstimateForL1, uint256 baseFee, uint256 l1BaseFeeEstimate);
    }

    /// ENS: the registry's resolver lookup and the resolver's address record.
    #[sol(rpc)]
    interface ENS {
        function resolver(bytes32 node) external view returns (address);
    }

    #[sol(rpc)]
    interface ENSResolver {
        function addr(bytes32 node) external view returns (address);
    }
}
