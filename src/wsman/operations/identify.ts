// Identify (DSP0226 §11): who this service is. The anonymous form omits the product version, as
// Windows does for unauthenticated identify requests (MS-WSMV 3.1.4.1.30).
import { NS, WSMAN_PROTOCOL_VERSION } from '../../soap/names.js';
import { el, type XmlNode } from '../../soap/xml.js';

export interface Identity {
  productVendor: string;
  productVersion: string;
  securityProfiles: string[];
}

export function identifyResponse(identity: Identity, authenticated: boolean): XmlNode {
  const id = (name: string, text: string) => el(NS.wsmid, name, {}, text);
  return el(NS.wsmid, 'IdentifyResponse', {},
    id('ProtocolVersion', WSMAN_PROTOCOL_VERSION),
    id('ProductVendor', identity.productVendor),
    authenticated ? id('ProductVersion', identity.productVersion) : undefined,
    authenticated
      ? el(NS.wsmid, 'SecurityProfiles', {}, ...identity.securityProfiles.map((p) => id('SecurityProfileName', p)))
      : undefined);
}
