// SPDX-License-Identifier: Apache-2.0
// Not yet published by the network: the interface this node needs to register as a premium
// (validator-routed) node, staking GOV and announcing an endpoint.
pragma solidity ^0.8.24;

import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";

contract ValidatorRegistry {
    struct Validator {
        address node;
        string endpoint;
        uint256 stake;
        uint256 registeredAt;
        bool isActive;
    }

    address public immutable govToken;
    uint256 public immutable minStake;
    Validator[] private validators;
    mapping(address => uint256) private idOf; // id + 1

    event ValidatorRegistered(address indexed node, string endpoint, uint256 stake);

    constructor(address govToken_, uint256 minStake_) {
        govToken = govToken_;
        minStake = minStake_;
    }

    function registerValidator(string calldata endpoint, uint256 stake) external {
        require(idOf[msg.sender] == 0, "Already registered");
        require(stake >= minStake, "Stake below minimum");
        require(IERC20(govToken).transferFrom(msg.sender, address(this), stake), "Stake transfer failed");
        validators.push(Validator(msg.sender, endpoint, stake, block.timestamp, true));
        idOf[msg.sender] = validators.length;
        emit ValidatorRegistered(msg.sender, endpoint, stake);
    }

    function isValidator(address node) external view returns (bool) {
        uint256 id = idOf[node];
        return id != 0 && validators[id - 1].isActive;
    }

    function getValidators() external view returns (Validator[] memory) {
        return validators;
    }
}
