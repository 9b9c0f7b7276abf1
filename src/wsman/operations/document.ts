// Operations on document resources (the WinRS shell, winrm/config): WS-Transfer Get, Put, Create
// and Delete (DSP0226 §7) and custom actions (MS-WSMV 3.1.4.11-14: the shell's Command, Send,
// Receive, Signal), whose bodies the provider reads and writes as element trees. Each resource's
// methods and action table become routes of their own: no action is looked up twice.
import { eprToXml } from '../../cim/serialize.js';
import type { DocumentRequest, DocumentResource, Element } from '../../provider-api.js';
import type { ReplyMessage } from '../../soap/envelope.js';
import { ACTION, methodResponseAction, NS } from '../../soap/names.js';
import { el, type XmlNode } from '../../soap/xml.js';
import type { WsmanRequest } from '../request.js';
import type { Route, Target } from '../routes.js';
import { beforeDeadline, documentRequest, type OpContext } from './context.js';

type Body = Element | undefined;

function reply(req: WsmanRequest, action: string, ...body: Body[]): ReplyMessage {
  return { action, relatesTo: req.messageId, body: body.filter((b): b is XmlNode => b !== undefined) };
}

/** A route that hands the provider its document request, waiting no longer than the deadline. */
function documentRoute(operation: string, action: string, resource: DocumentResource, serve: (dreq: DocumentRequest, req: WsmanRequest) => Promise<ReplyMessage>): [string, Route] {
  return [action, {
    operation,
    effects: resource.effects?.[action],
    handler: (req: WsmanRequest, ctx: OpContext, target: Target) => beforeDeadline(serve(documentRequest(req, ctx, target), req), ctx),
  }];
}

/** The (action, route) pairs a document resource serves, Enumerate aside (the enumeration stub pages it). */
export function documentRoutes(resource: DocumentResource): [string, Route][] {
  const routes: [string, Route][] = [];
  const { get, put, create, delete: remove } = resource;
  if (get) routes.push(documentRoute('get', ACTION.get, resource, async (d, req) => reply(req, ACTION.getResponse, await get(d))));
  if (put) routes.push(documentRoute('put', ACTION.put, resource, async (d, req) => reply(req, ACTION.putResponse, await put(d))));
  if (create) {
    routes.push(documentRoute('create', ACTION.create, resource, async (d, req) => {
      const created = await create(d);
      // DSP0226 §7.5: ResourceCreated is the new resource's EPR; Windows puts the shell beside it.
      const epr = eprToXml(resource.uri, created.selectors);
      return reply(req, ACTION.createResponse, el(NS.wxf, 'ResourceCreated', {}, ...epr.children), created.body);
    }));
  }
  if (remove) routes.push(documentRoute('delete', ACTION.delete, resource, async (d, req) => { await remove(d); return reply(req, ACTION.deleteResponse); }));
  for (const [action, serve] of Object.entries(resource.actions ?? {})) {
    // The provider answers long polls itself, before the deadline (dreq.deadline).
    routes.push(documentRoute(action.slice(action.lastIndexOf('/') + 1), action, resource, async (d, req) => reply(req, methodResponseAction(action), await serve(d))));
  }
  return routes;
}
