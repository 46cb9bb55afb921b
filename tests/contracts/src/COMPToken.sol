// SPDX-License-Identifier: Apache-2.0
// "OARN Compute Token" (COMP) with the live COMPToken ABI: minted by authorised minters,
// optional burn on transfer.
pragma solidity ^0.8.24;

import {ERC20} from "@openzeppelin/contracts/token/ERC20/ERC20.sol";

contract COMPToken is ERC20 {
    address public immutable owner;
    mapping(address => bool) public minters;
    uint256 public burnRate; // basis points
    bool public burnEnabled;
    uint256 public totalMinted;
    uint256 public immutable launchTime;
    uint256 private yearlyEmissionCap = 100_000_000 ether;

    constructor() ERC20("OARN Compute Token", "COMP") {
        owner = msg.sender;
        minters[msg.sender] = true;
        launchTime = block.timestamp;
    }

    function setMinter(address who, bool allowed) external {
        require(msg.sender == owner, "Only owner");
        minters[who] = allowed;
    }

    function setBurn(bool enabled, uint256 rate) external {
        require(msg.sender == owner, "Only owner");
        require(rate <= 1_000, "Rate above 10%");
        burnEnabled = enabled;
        burnRate = rate;
    }

    function mint(address to, uint256 amount) external {
        require(minters[msg.sender], "Not a minter");
        require(totalMinted + amount <= getYearlyEmissionCap() * (1 + (block.timestamp - launchTime) / 365 days), "Emission cap");
        totalMinted += amount;
        _mint(to, amount);
    }

    function getYearlyEmissionCap() public view returns (uint256) {
        return yearlyEmissionCap;
    }

    function _update(address from, address to, uint256 value) internal override {
        if (burnEnabled && burnRate > 0 && from != address(0) && to != address(0)) {
            uint256 burned = (value * burnRate) / 10_000;
            super._update(from, address(0), burned);
            value -= burned;
        }
        super._update(from, to, value);
    }
}
