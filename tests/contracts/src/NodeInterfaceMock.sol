// SPDX-License-Identifier: Apache-2.0
// Arbitrum's NodeInterface is a precompile of Arbitrum nodes (at 0x…C8), which anvil does not
// have. Tests place this stand-in there with anvil_setCode to exercise the L1 fee path; it
// answers gasEstimateL1Component with fixed figures.
pragma solidity ^0.8.24;

contract NodeInterfaceMock {
    function gasEstimateL1Component(address, bool, bytes calldata)
        external
        payable
        returns (uint64 gasEstimateForL1, uint256 baseFee, uint256 l1BaseFeeEstimate)
    {
        return (1234, 0.1 gwei, 30 gwei);
    }
}
