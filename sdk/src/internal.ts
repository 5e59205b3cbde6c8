/** Helpers shared by the actions. Not exported from the entry point. */
import type { Abi, Account, Address, Chain, Client, ContractFunctionArgs, ContractFunctionName, Hex, TransactionReceipt, Transport } from "viem";
import { parseEventLogs } from "viem";
import { parseAccount } from "viem/accounts";
import { simulateContract, waitForTransactionReceipt, writeContract } from "viem/actions";
import type { VeilAddresses } from "./addresses.js";
import { AccountNotFoundError, MissingAddressError, TransactionRevertedError, decodeVeilError } from "./errors.js";

/** Any viem client: public, wallet, or a test client. */
export type VeilClient = Client<Transport, Chain | undefined, Account | undefined>;

/** Parameters every action takes. */
export type AddressesParameter = {
  /** Addresses of the deployment (bound by the `veilActions` decorator). */
  addresses: VeilAddresses;
};

/** Parameters every write action takes. */
export type WriteParameters = AddressesParameter & {
  /** Account sending the transaction; defaults to the client's account. */
  account?: Account | Address | undefined;
};

/** The result of every write action: the transaction hash and its (successful) receipt. */
export type WriteReturnType = { hash: Hex; receipt: TransactionReceipt };

export function resolveAccount(client: VeilClient, account: Account | Address | undefined, action: string): Account {
  const a = account ?? client.account;
  if (!a) throw new AccountNotFoundError(action);
  return parseAccount(a);
}

export function requireAddress<K extends keyof VeilAddresses>(addresses: VeilAddresses, key: K): Address {
  const a = addresses[key];
  if (!a) throw new MissingAddressError(key);
  return a as Address;
}

/**
 * Simulates the call (so a revert surfaces before anything is signed, decoded into a named error), sends it,
 * and waits for a successful receipt.
 */
export async function send<const abi extends Abi, name extends ContractFunctionName<abi, "nonpayable" | "payable">>(
  client: VeilClient,
  account: Account,
  call: {
    address: Address;
    abi: abi;
    functionName: name;
    args: ContractFunctionArgs<abi, "nonpayable" | "payable", name>;
  },
): Promise<WriteReturnType & { result: unknown }> {
  try {
    const { request, result } = await simulateContract(client, { ...(call as any), account, chain: client.chain ?? null });
    const hash = await writeContract(client, request as any);
    const receipt = await waitForTransactionReceipt(client, { hash });
    if (receipt.status !== "success") throw new TransactionRevertedError(hash);
    return { hash, receipt, result };
  } catch (e) {
    throw decodeVeilError(e);
  }
}

/** The args of the first `eventName` event that `address` emitted in `receipt`. */
export function eventArgs<const abi extends Abi>(abi: abi, receipt: TransactionReceipt, address: Address, eventName: string): Record<string, any> {
  const logs = parseEventLogs({ abi, logs: receipt.logs }) as unknown as { address: Address; eventName: string; args: Record<string, any> }[];
  const log = logs.find((l) => l.eventName === eventName && l.address.toLowerCase() === address.toLowerCase());
  if (!log) throw new Error(`no ${eventName} event from ${address} in ${receipt.transactionHash}`);
  return log.args;
}

export function toBytes32(value: string): Hex {
  if (!/^0x[0-9a-fA-F]{64}$/.test(value)) throw new Error(`expected a 32-byte hex value, got ${JSON.stringify(value)}`);
  return value.toLowerCase() as Hex;
}

/** Awaits `p`, turning a failure into a decoded {@link VeilError}. */
export async function decoded<T>(p: Promise<T>): Promise<T> {
  try {
    return await p;
  } catch (e) {
    throw decodeVeilError(e);
  }
}
