// The native IPMI 2.0 RMCP+ ("lanplus") transport.
export { LanplusTransport, type IpmiPrivilege, type LanplusOptions } from './lanplus.js';
