// SPDX-License-Identifier: Apache-2.0
// Multi-node consensus task registry with the live TaskRegistryV2 ABI
// (../../shared/interop/oarn-network.md). Rewards are paid in ETH from msg.value.
pragma solidity ^0.8.24;

contract TaskRegistryV2 {
    enum TaskStatus { Pending, Active, Consensus, Completed, Disputed, Cancelled, Expired }
    enum ConsensusType { Majority, SuperMajority, Unanimous }

    struct Task {
        uint256 id;
        address requester;
        bytes32 modelHash;
        bytes32 inputHash;
        string modelRequirements;
        uint256 rewardPerNode;
        uint256 requiredNodes;
        uint256 claimedCount;
        uint256 submittedCount;
        uint256 deadline;
        TaskStatus status;
        ConsensusType consensusType;
        uint256 createdAt;
        bytes32 consensusResult;
    }

    struct NodeResult {
        address node;
        bytes32 resultHash;
        uint256 submittedAt;
        bool matchesConsensus;
        bool rewarded;
    }

    mapping(uint256 => Task) public tasks;
    uint256 public taskCount;
    uint256 public activeTaskCount;
    mapping(uint256 => mapping(address => bool)) public hasClaimedTask;
    mapping(uint256 => mapping(address => bool)) public hasSubmittedResult;
    mapping(uint256 => NodeResult[]) private results;

    event TaskCreated(
        uint256 indexed taskId, address indexed requester, bytes32 modelHash, uint256 rewardPerNode, uint256 requiredNodes, uint8 consensusType
    );
    event TaskClaimed(uint256 indexed taskId, address indexed node);
    event ResultSubmitted(uint256 indexed taskId, address indexed node, bytes32 resultHash);
    event ConsensusReached(uint256 indexed taskId, bytes32 consensusHash, uint256 agreeingNodes, uint256 totalNodes);
    event ConsensusDisputed(uint256 indexed taskId, uint256 uniqueResults, uint256 highestCount);
    event RewardDistributed(uint256 indexed taskId, address indexed node, uint256 amount, bool matchedConsensus);
    event TaskCompleted(uint256 indexed taskId, uint256 totalRewards);
    event TaskFunded(uint256 indexed taskId, address indexed funder, uint256 fundingAmount, uint256 newRewardPerNode);

    function submitTask(
        bytes32 modelHash,
        bytes32 inputHash,
        string calldata modelRequirements,
        uint256 rewardPerNode,
        uint256 requiredNodes,
        uint256 deadline,
        uint8 consensusType
    ) public payable returns (uint256) {
        require(requiredNodes >= 3 && requiredNodes <= 100, "Invalid node count");
        require(consensusType <= uint8(ConsensusType.Unanimous), "Invalid consensus type");
        require(deadline > block.timestamp, "Deadline in the past");
        require(msg.value >= rewardPerNode * requiredNodes, "Insufficient payment");
        uint256 id = ++taskCount;
        Task storage t = tasks[id];
        t.id = id;
        t.requester = msg.sender;
        t.modelHash = modelHash;
        t.inputHash = inputHash;
        t.modelRequirements = modelRequirements;
        t.rewardPerNode = rewardPerNode;
        t.requiredNodes = requiredNodes;
        t.deadline = deadline;
        t.status = TaskStatus.Pending;
        t.consensusType = ConsensusType(consensusType);
        t.createdAt = block.timestamp;
        activeTaskCount++;
        emit TaskCreated(id, msg.sender, modelHash, rewardPerNode, requiredNodes, consensusType);
        return id;
    }

    function submitTask(
        bytes32 modelHash,
        bytes32 inputHash,
        string calldata modelRequirements,
        uint256 rewardPerNode,
        uint256 requiredNodes,
        uint256 deadline
    ) external payable returns (uint256) {
        return submitTask(modelHash, inputHash, modelRequirements, rewardPerNode, requiredNodes, deadline, 0);
    }

    function fundTask(uint256 taskId) external payable {
        Task storage t = tasks[taskId];
        require(t.id != 0, "Task not found");
        require(t.status == TaskStatus.Pending || t.status == TaskStatus.Active, "Task not open");
        t.rewardPerNode += msg.value / t.requiredNodes;
        emit TaskFunded(taskId, msg.sender, msg.value, t.rewardPerNode);
    }

    function claimTask(uint256 taskId) external {
        Task storage t = tasks[taskId];
        require(t.id != 0, "Task not found");
        require(block.timestamp <= t.deadline, "Task expired");
        require(t.status == TaskStatus.Pending || t.status == TaskStatus.Active, "Task not open");
        require(!hasClaimedTask[taskId][msg.sender], "Already claimed");
        require(t.claimedCount < 2 * t.requiredNodes, "Max claims reached");
        hasClaimedTask[taskId][msg.sender] = true;
        t.claimedCount++;
        t.status = TaskStatus.Active;
        emit TaskClaimed(taskId, msg.sender);
    }

    function submitResult(uint256 taskId, bytes32 resultHash) external {
        Task storage t = tasks[taskId];
        require(t.id != 0, "Task not found");
        require(hasClaimedTask[taskId][msg.sender], "Not claimed");
        require(!hasSubmittedResult[taskId][msg.sender], "Already submitted");
        require(block.timestamp <= t.deadline, "Task expired");
        require(t.status == TaskStatus.Active, "Task not active");
        hasSubmittedResult[taskId][msg.sender] = true;
        t.submittedCount++;
        results[taskId].push(NodeResult(msg.sender, resultHash, block.timestamp, false, false));
        emit ResultSubmitted(taskId, msg.sender, resultHash);
        if (t.submittedCount >= t.requiredNodes) _consensus(taskId);
    }

    function getConsensusStatus(uint256 taskId)
        public
        view
        returns (bytes32 winningHash, uint256 winningCount, uint256 totalSubmissions, bool reached, uint256 uniqueResults)
    {
        NodeResult[] storage r = results[taskId];
        totalSubmissions = r.length;
        for (uint256 i; i < r.length; i++) {
            uint256 count;
            bool seenBefore;
            for (uint256 j; j < r.length; j++) {
                if (r[j].resultHash == r[i].resultHash) {
                    count++;
                    if (j < i) seenBefore = true;
                }
            }
            if (!seenBefore) uniqueResults++;
            if (count > winningCount) {
                winningCount = count;
                winningHash = r[i].resultHash;
            }
        }
        Task storage t = tasks[taskId];
        if (totalSubmissions >= t.requiredNodes && totalSubmissions > 0) {
            if (t.consensusType == ConsensusType.Majority) reached = winningCount * 2 > totalSubmissions;
            else if (t.consensusType == ConsensusType.SuperMajority) reached = winningCount * 3 > totalSubmissions * 2;
            else reached = winningCount == totalSubmissions;
        }
    }

    function getTaskResults(uint256 taskId) external view returns (NodeResult[] memory) {
        return results[taskId];
    }

    function didNodeMatchConsensus(uint256 taskId, address node) external view returns (bool) {
        NodeResult[] storage r = results[taskId];
        for (uint256 i; i < r.length; i++) if (r[i].node == node) return r[i].matchesConsensus;
        return false;
    }

    function _consensus(uint256 taskId) private {
        Task storage t = tasks[taskId];
        (bytes32 winning, uint256 count, uint256 total, bool reached, uint256 unique) = getConsensusStatus(taskId);
        activeTaskCount--;
        if (!reached) {
            t.status = TaskStatus.Disputed;
            emit ConsensusDisputed(taskId, unique, count);
            return;
        }
        t.status = TaskStatus.Consensus;
        t.consensusResult = winning;
        emit ConsensusReached(taskId, winning, count, total);
        uint256 paid;
        NodeResult[] storage r = results[taskId];
        for (uint256 i; i < r.length; i++) {
            bool matched = r[i].resultHash == winning;
            r[i].matchesConsensus = matched;
            if (matched) {
                r[i].rewarded = true;
                paid += t.rewardPerNode;
                (bool ok,) = r[i].node.call{value: t.rewardPerNode}("");
                require(ok, "Reward transfer failed");
                emit RewardDistributed(taskId, r[i].node, t.rewardPerNode, true);
            } else {
                emit RewardDistributed(taskId, r[i].node, 0, false);
            }
        }
        t.status = TaskStatus.Completed;
        emit TaskCompleted(taskId, paid);
    }
}
