// Identify (DSP0226 §11): who this service is. Unauthenticated, Windows reveals no product
// version (the OS part reads 0.0.0, the stack version stays, clients read it) and no security
// profiles (MS-WSMV 3.1.4.1.23).
import { NS, WSMAN_PROTOCOL_VERSION } from '../../soap/names.js';
import { el, type XmlNode } from '../../soap/xml.js';

export interface Identity {
  productVendor: string;
  productVersion: string;
  securityProfiles: string[];
}

const ANONYMOUS_PRODUCT_VERSION = 'OS: 0.0.0 SP: 0.0 Stack: 3.0';

export function identifyResponse(identity: Identity, authenticated: boolean): XmlNode {
  const id = (name: string, text: string) => el(NS.wsmid, name, {}, text);
  return el(NS.wsmid, 'IdentifyResponse', {},
    id('ProtocolVersion', WSMAN_PROTOCOL_VERSION),
    id('ProductVendor', identity.productVendor),
    id('ProductVersion', authenticated ? identity.productVersion : ANONYMOUS_PRODUCT_VERSION),
    authenticated
      ? el(NS.wsmid, 'SecurityProfiles', {}, ...identity.securityProfiles.map((p) => id('SecurityProfileName', p)))
      : undefined);
}
