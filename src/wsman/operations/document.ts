// Operations on document resources (the WinRS shell, winrm/config): WS-Transfer Get, Put, Create
// and Delete (DSP0226 §7) and custom actions (MS-WSMV 3.1.4.11-14: the shell's Command, Send,
// Receive, Signal), whose bodies the provider reads and writes as element trees.
import { eprToXml } from '../../cim/serialize.js';
import type { ReplyMessage } from '../../soap/envelope.js';
import { WsmanFault } from '../../soap/faults.js';
import { ACTION, methodResponseAction, NS } from '../../soap/names.js';
import { el, type XmlNode } from '../../soap/xml.js';
import type { WsmanRequest } from '../request.js';
import type { Target } from '../resources.js';
import { beforeDeadline, documentRequest, type OpContext } from './context.js';

export async function documentOperation(req: WsmanRequest, ctx: OpContext, target: Extract<Target, { kind: 'document' }>): Promise<ReplyMessage> {
  const { resource } = target;
  const dreq = documentRequest(req, ctx, target);
  const reply = (action: string, ...body: (ReturnType<typeof el> | undefined)[]): ReplyMessage => ({
    action,
    relatesTo: req.messageId,
    body: body.filter((b): b is XmlNode => b !== undefined),
  });
  const unsupported = () => new WsmanFault('ActionNotSupported', `The action ${req.action} is not supported by ${resource.uri}.`);
  switch (req.action) {
    case ACTION.get:
      if (!resource.get) throw unsupported();
      return reply(ACTION.getResponse, await beforeDeadline(resource.get(dreq), ctx));
    case ACTION.put:
      if (!resource.put) throw unsupported();
      return reply(ACTION.putResponse, await beforeDeadline(resource.put(dreq), ctx));
    case ACTION.create: {
      if (!resource.create) throw unsupported();
      const created = await beforeDeadline(resource.create(dreq), ctx);
      // DSP0226 §7.5: ResourceCreated is the new resource's EPR; Windows puts the shell beside it.
      const epr = eprToXml(resource.uri, created.selectors);
      return reply(ACTION.createResponse, el(NS.wxf, 'ResourceCreated', {}, ...epr.children), created.body);
    }
    case ACTION.delete:
      if (!resource.delete) throw unsupported();
      await beforeDeadline(resource.delete(dreq), ctx);
      return reply(ACTION.deleteResponse);
    default:
      if (!resource.action) throw unsupported();
      // The provider answers long polls itself, before the deadline (dreq.deadline).
      return reply(methodResponseAction(req.action), await beforeDeadline(resource.action(dreq), ctx));
  }
}
