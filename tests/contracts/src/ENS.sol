// SPDX-License-Identifier: Apache-2.0
// A minimal ENS registry and address resolver with the ENS ABI the node uses
// (`resolver(bytes32)`, `addr(bytes32)`), so discovery by name runs on a local chain.
pragma solidity ^0.8.24;

contract ENSRegistry {
    struct Record {
        address owner;
        address resolver;
    }

    mapping(bytes32 => Record) private records;

    event NewOwner(bytes32 indexed node, bytes32 indexed label, address owner);
    event NewResolver(bytes32 indexed node, address resolver);

    constructor() {
        records[bytes32(0)].owner = msg.sender;
    }

    modifier authorised(bytes32 node) {
        require(records[node].owner == msg.sender, "Not the owner");
        _;
    }

    function owner(bytes32 node) external view returns (address) {
        return records[node].owner;
    }

    function resolver(bytes32 node) external view returns (address) {
        return records[node].resolver;
    }

    function setSubnodeOwner(bytes32 node, bytes32 label, address newOwner) external authorised(node) returns (bytes32) {
        bytes32 sub = keccak256(abi.encodePacked(node, label));
        records[sub].owner = newOwner;
        emit NewOwner(node, label, newOwner);
        return sub;
    }

    function setResolver(bytes32 node, address newResolver) external authorised(node) {
        records[node].resolver = newResolver;
        emit NewResolver(node, newResolver);
    }
}

contract AddrResolver {
    ENSRegistry public immutable ens;
    mapping(bytes32 => address) private addresses;

    event AddrChanged(bytes32 indexed node, address a);

    constructor(ENSRegistry ens_) {
        ens = ens_;
    }

    function addr(bytes32 node) external view returns (address) {
        return addresses[node];
    }

    function setAddr(bytes32 node, address a) external {
        require(ens.owner(node) == msg.sender, "Not the owner");
        addresses[node] = a;
        emit AddrChanged(node, a);
    }

    function supportsInterface(bytes4 id) external pure returns (bool) {
        return id == 0x3b3b57de || id == 0x01ffc9a7; // addr(bytes32), ERC-165
    }
}
