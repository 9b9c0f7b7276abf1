// Custom methods (DSP0226 §9, MS-WSMV 3.1.4.16): the action is `<class resource URI>/<Method>`,
// the body `<Method>_INPUT`, the reply `<Method>_OUTPUT` with the action `…/<Method>Response`.
import { paramsToXml, xmlToValues } from '../../cim/serialize.js';
import type { ReplyMessage } from '../../soap/envelope.js';
import { WsmanFault } from '../../soap/faults.js';
import { methodResponseAction } from '../../soap/names.js';
import type { WsmanRequest } from '../request.js';
import type { Target } from '../resources.js';
import { beforeDeadline, providerRequest, type OpContext } from './context.js';
import { findInstance } from './transfer.js';

export async function invoke(req: WsmanRequest, ctx: OpContext, target: Target): Promise<ReplyMessage> {
  if (target.kind !== 'class') throw new WsmanFault('ActionNotSupported', `The action ${req.action} is not supported by this resource.`);
  const { entry } = target;
  const prefix = `${entry.uri}/`.toLowerCase();
  if (!req.action.toLowerCase().startsWith(prefix)) {
    throw new WsmanFault('ActionNotSupported', `The action ${req.action} is not supported for ${entry.cls.name}.`);
  }
  const requested = req.action.slice(prefix.length);
  const method = Object.keys(entry.cls.methods ?? {}).find((m) => m.toLowerCase() === requested.toLowerCase());
  if (!method || !entry.provider.invoke) throw new WsmanFault('ActionNotSupported', `${entry.cls.name} has no method ${requested}.`);
  const decl = entry.cls.methods![method];

  const body = req.body;
  if (body && body.name.toLowerCase() !== `${method}_INPUT`.toLowerCase()) {
    throw new WsmanFault('SchemaValidationError', `The body of ${method} must be a ${method}_INPUT element.`);
  }
  const input = body ? xmlToValues(body, decl.input) : {};
  for (const name of Object.keys(input)) {
    if (!(name in decl.input)) throw new WsmanFault('InvalidParameter', `${method} has no parameter ${name}.`);
  }
  // An instance method names its instance by selectors: it must exist (WMI semantics).
  if (Object.keys(target.selectors).length > 0) await findInstance(req, ctx, target);

  const output = await beforeDeadline(entry.provider.invoke({ ...providerRequest(req, ctx, target), method, input }), ctx);
  return {
    action: methodResponseAction(`${entry.uri}/${method}`),
    relatesTo: req.messageId,
    body: [paramsToXml(`${method}_OUTPUT`, entry.uri, output, decl.output)],
  };
}
