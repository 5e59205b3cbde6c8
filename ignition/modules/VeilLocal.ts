import { buildModule } from "@nomicfoundation/hardhat-ignition/modules";
import { buildVeil } from "./Veil.js";

/** Local chains: deploys a 6-decimal mock stablecoin as the fee token, then the whole suite. */
export default buildModule("VeilLocal", (m) => {
  const feeToken = m.contract("MockUSDC", []);
  return buildVeil(m, feeToken);
});
