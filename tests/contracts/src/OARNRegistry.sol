// SPDX-License-Identifier: Apache-2.0
// Discovery entry point with the live OARNRegistry ABI (../../shared/interop/oarn-network.md):
// core contract addresses, staked RPC providers and bootstrap nodes.
pragma solidity ^0.8.24;

import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";

contract OARNRegistry {
    struct RPCProvider {
        string endpoint;
        string onionEndpoint;
        address owner;
        uint256 stake;
        uint256 registeredAt;
        uint256 lastHeartbeat;
        uint256 uptime; // percent x100
        uint256 reportCount;
        bool isActive;
    }

    struct BootstrapNode {
        string peerId;
        string multiaddr;
        string onionAddress;
        string i2pAddress;
        address owner;
        uint256 stake;
        uint256 registeredAt;
        uint256 lastHeartbeat;
        bool isActive;
    }

    uint256 public constant RPC_STAKE = 5_000 ether;
    uint256 public constant BOOTSTRAP_STAKE = 1_000 ether;

    address public immutable taskRegistry;
    address public immutable tokenReward;
    address public immutable validatorRegistry;
    address public immutable governance;
    address public immutable govToken;
    address public taskRegistryV2;

    RPCProvider[] private rpcProviders;
    BootstrapNode[] private bootstrapNodes;
    mapping(address => uint256) private rpcIdOf; // id + 1
    mapping(address => uint256) private bootstrapIdOf; // id + 1

    event RPCProviderRegistered(uint256 indexed id, address indexed owner, string endpoint);
    event BootstrapNodeRegistered(uint256 indexed id, address indexed owner, string peerId);
    event TaskRegistryV2Updated(address indexed oldAddress, address indexed newAddress);

    constructor(
        address taskRegistry_,
        address taskRegistryV2_,
        address tokenReward_,
        address validatorRegistry_,
        address governance_,
        address govToken_
    ) {
        taskRegistry = taskRegistry_;
        taskRegistryV2 = taskRegistryV2_;
        tokenReward = tokenReward_;
        validatorRegistry = validatorRegistry_;
        governance = governance_;
        govToken = govToken_;
    }

    function setTaskRegistryV2(address next) external {
        require(msg.sender == governance, "Only governance");
        emit TaskRegistryV2Updated(taskRegistryV2, next);
        taskRegistryV2 = next;
    }

    function getCoreContracts() external view returns (address, address, address, address, address) {
        return (taskRegistry, tokenReward, validatorRegistry, governance, govToken);
    }

    function getCoreContractsV2() external view returns (address, address, address, address, address, address) {
        return (taskRegistry, taskRegistryV2, tokenReward, validatorRegistry, governance, govToken);
    }

    function registerRPCProvider(string calldata endpoint, string calldata onionEndpoint) external {
        require(rpcIdOf[msg.sender] == 0, "Already registered");
        require(bytes(endpoint).length > 0 || bytes(onionEndpoint).length > 0, "Endpoint required");
        require(IERC20(govToken).transferFrom(msg.sender, address(this), RPC_STAKE), "Stake transfer failed");
        rpcProviders.push(
            RPCProvider(endpoint, onionEndpoint, msg.sender, RPC_STAKE, block.timestamp, block.timestamp, 10_000, 0, true)
        );
        rpcIdOf[msg.sender] = rpcProviders.length;
        emit RPCProviderRegistered(rpcProviders.length - 1, msg.sender, endpoint);
    }

    function registerBootstrapNode(
        string calldata peerId,
        string calldata multiaddr,
        string calldata onionAddress,
        string calldata i2pAddress
    ) external {
        require(bootstrapIdOf[msg.sender] == 0, "Already registered");
        require(bytes(peerId).length > 0, "Peer id required");
        require(IERC20(govToken).transferFrom(msg.sender, address(this), BOOTSTRAP_STAKE), "Stake transfer failed");
        bootstrapNodes.push(
            BootstrapNode(
                peerId, multiaddr, onionAddress, i2pAddress, msg.sender, BOOTSTRAP_STAKE, block.timestamp, block.timestamp, true
            )
        );
        bootstrapIdOf[msg.sender] = bootstrapNodes.length;
        emit BootstrapNodeRegistered(bootstrapNodes.length - 1, msg.sender, peerId);
    }

    function updateBootstrapNode(
        string calldata peerId,
        string calldata multiaddr,
        string calldata onionAddress,
        string calldata i2pAddress
    ) external {
        uint256 id = bootstrapIdOf[msg.sender];
        require(id != 0, "Not registered");
        BootstrapNode storage n = bootstrapNodes[id - 1];
        n.peerId = peerId;
        n.multiaddr = multiaddr;
        n.onionAddress = onionAddress;
        n.i2pAddress = i2pAddress;
    }

    function heartbeat() external {
        uint256 rpc = rpcIdOf[msg.sender];
        uint256 boot = bootstrapIdOf[msg.sender];
        require(rpc != 0 || boot != 0, "Not registered");
        if (rpc != 0) rpcProviders[rpc - 1].lastHeartbeat = block.timestamp;
        if (boot != 0) bootstrapNodes[boot - 1].lastHeartbeat = block.timestamp;
    }

    function isActiveProvider(address who) external view returns (bool isRpc, bool isBootstrap) {
        uint256 rpc = rpcIdOf[who];
        uint256 boot = bootstrapIdOf[who];
        isRpc = rpc != 0 && rpcProviders[rpc - 1].isActive;
        isBootstrap = boot != 0 && bootstrapNodes[boot - 1].isActive;
    }

    function getActiveRPCProviders() public view returns (RPCProvider[] memory out) {
        uint256 n;
        for (uint256 i; i < rpcProviders.length; i++) if (rpcProviders[i].isActive) n++;
        out = new RPCProvider[](n);
        n = 0;
        for (uint256 i; i < rpcProviders.length; i++) if (rpcProviders[i].isActive) out[n++] = rpcProviders[i];
    }

    function getActiveBootstrapNodes() public view returns (BootstrapNode[] memory out) {
        uint256 n;
        for (uint256 i; i < bootstrapNodes.length; i++) if (bootstrapNodes[i].isActive) n++;
        out = new BootstrapNode[](n);
        n = 0;
        for (uint256 i; i < bootstrapNodes.length; i++) if (bootstrapNodes[i].isActive) out[n++] = bootstrapNodes[i];
    }

    function getRandomRPCProviders(uint256 count) external view returns (RPCProvider[] memory out) {
        RPCProvider[] memory all = getActiveRPCProviders();
        if (count > all.length) count = all.length;
        out = new RPCProvider[](count);
        uint256 start = all.length == 0 ? 0 : uint256(blockhash(block.number - 1)) % all.length;
        for (uint256 i; i < count; i++) out[i] = all[(start + i) % all.length];
    }

    function getRandomBootstrapNodes(uint256 count) external view returns (BootstrapNode[] memory out) {
        BootstrapNode[] memory all = getActiveBootstrapNodes();
        if (count > all.length) count = all.length;
        out = new BootstrapNode[](count);
        uint256 start = all.length == 0 ? 0 : uint256(blockhash(block.number - 1)) % all.length;
        for (uint256 i; i < count; i++) out[i] = all[(start + i) % all.length];
    }
}
