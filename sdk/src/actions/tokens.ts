import { erc20Abi, type Account, type Address, type Hex } from "viem";
import { readContract, signTypedData } from "viem/actions";
import { mockUsdcAbi } from "../generated/abis.js";
import { send, type VeilClient } from "../internal.js";

/** Approves `spender` for `amount` unless the current allowance already covers it. Returns the approval hash, if any. */
export async function ensureAllowance(
  client: VeilClient,
  account: Account,
  token: Address,
  spender: Address,
  amount: bigint,
): Promise<Hex | undefined> {
  const allowance = await readContract(client, { address: token, abi: erc20Abi, functionName: "allowance", args: [account.address, spender] });
  if (allowance >= amount) return undefined;
  const { hash } = await send(client, account, { address: token, abi: erc20Abi, functionName: "approve", args: [spender, amount] });
  return hash;
}

/** Signs an EIP-2612 permit of `value` for `spender` with the account's wallet. */
export async function signPermit(
  client: VeilClient,
  account: Account,
  token: Address,
  spender: Address,
  value: bigint,
  deadline: bigint,
): Promise<{ v: number; r: Hex; s: Hex }> {
  // ERC-2612 tokens (OpenZeppelin ERC20Permit) publish their EIP-712 domain (ERC-5267); fall back to name + version "1".
  let name: string;
  let version = "1";
  let chainId = BigInt(client.chain?.id ?? 0);
  let verifyingContract = token;
  try {
    const d = await readContract(client, { address: token, abi: mockUsdcAbi, functionName: "eip712Domain" });
    [, name, version, chainId, verifyingContract] = d;
  } catch {
    name = await readContract(client, { address: token, abi: erc20Abi, functionName: "name" });
  }
  if (chainId === 0n) chainId = BigInt(await client.request({ method: "eth_chainId" }));
  const nonce = await readContract(client, { address: token, abi: mockUsdcAbi, functionName: "nonces", args: [account.address] });
  const signature = await signTypedData(client, {
    account,
    domain: { name, version, chainId, verifyingContract },
    types: {
      Permit: [
        { name: "owner", type: "address" },
        { name: "spender", type: "address" },
        { name: "value", type: "uint256" },
        { name: "nonce", type: "uint256" },
        { name: "deadline", type: "uint256" },
      ],
    },
    primaryType: "Permit",
    message: { owner: account.address, spender, value, nonce, deadline },
  });
  const r = `0x${signature.slice(2, 66)}` as Hex;
  const s = `0x${signature.slice(66, 130)}` as Hex;
  let v = parseInt(signature.slice(130, 132), 16);
  if (v < 27) v += 27;
  return { v, r, s };
}
