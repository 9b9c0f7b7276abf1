// Custom methods (DSP0226 §9, MS-WSMV 3.1.4.16): the action is `<class resource URI>/<Method>`,
// the body `<Method>_INPUT`, the reply `<Method>_OUTPUT` with the action `…/<Method>Response`.
import { paramsToXml, xmlToValues } from '../../cim/serialize.js';
import type { ReplyMessage } from '../../soap/envelope.js';
import { WsmanFault } from '../../soap/faults.js';
import { methodResponseAction } from '../../soap/names.js';
import type { MethodDecl } from '../../provider-api.js';
import type { WsmanRequest } from '../request.js';
import type { Target } from '../resources.js';
import { beforeDeadline, providerRequest, type OpContext } from './context.js';
import { findInstance, keySelectors } from './transfer.js';

/** The method a custom action names on a class (`<class resource URI>/<Method>`), as declared. */
export function invokedMethod(action: string, target: Target): { name: string; decl: MethodDecl; effects?: MethodDecl['effects'] } {
  if (target.kind !== 'class') throw new WsmanFault('ActionNotSupported', `The action ${action} is not supported by this resource.`);
  const { entry } = target;
  const prefix = `${entry.uri}/`.toLowerCase();
  if (!action.toLowerCase().startsWith(prefix)) {
    throw new WsmanFault('ActionNotSupported', `The action ${action} is not supported for ${entry.cls.name}.`);
  }
  const requested = action.slice(prefix.length);
  const name = Object.keys(entry.cls.methods ?? {}).find((m) => m.toLowerCase() === requested.toLowerCase());
  if (!name || !entry.provider.invoke) throw new WsmanFault('ActionNotSupported', `${entry.cls.name} has no method ${requested}.`);
  const decl = entry.cls.methods![name];
  return { name, decl, effects: decl.effects };
}

export async function invoke(req: WsmanRequest, ctx: OpContext, target: Target): Promise<ReplyMessage> {
  // The route step read the method already (its effects go to the policy); a direct call reads it here.
  const { name: method, decl } = ctx.invoked ?? invokedMethod(req.action, target);
  const classTarget = target as Extract<Target, { kind: 'class' }>; // invokedMethod refused any other
  const { entry } = classTarget;

  const body = req.body;
  if (body && body.name.toLowerCase() !== `${method}_INPUT`.toLowerCase()) {
    throw new WsmanFault('SchemaValidationError', `The body of ${method} must be a ${method}_INPUT element.`);
  }
  const input = body ? xmlToValues(body, decl.input) : {};
  for (const name of Object.keys(input)) {
    if (!(name in decl.input)) throw new WsmanFault('InvalidParameter', `${method} has no parameter ${name}.`);
  }
  // An instance method names its instance by selectors: it must exist (WMI semantics).
  const selectors = keySelectors(entry.cls, target.selectors);
  if (Object.keys(selectors).length > 0) await findInstance(req, ctx, classTarget);

  const output = await beforeDeadline(entry.provider.invoke!({ ...providerRequest(req, ctx, target), selectors, method, input }), ctx);
  return {
    action: methodResponseAction(`${entry.uri}/${method}`),
    relatesTo: req.messageId,
    body: [paramsToXml(`${method}_OUTPUT`, entry.uri, output, decl.output)],
  };
}
