// A generated web-shop workload in the spirit of the OpenTelemetry demo, for suites that need realistic traces with
// known content: services frontend, cart, checkout, currency, payment, shipping, email, accounting, fraud-detection,
// product-catalog and recommendation; HTTP and gRPC calls, a Kafka-style producer with a consumer child and a consumer
// root linked to it, calls inside one service, error statuses, a 2,430-span trace. Deterministic for a given clock.
import { makeRng } from './load.mjs';

// Spans are kept in a plain form from which a suite can compute expected answers: {traceId, spanId, parent, service,
// name, kind, start, end (ns BigInt), attrs: {key: string|number|boolean}, status: 0|1|2, links: [{traceId, spanId}]}.

export const KIND = { internal: 1, server: 2, client: 3, producer: 4, consumer: 5 };
export const NODE_OF = { frontend: 'node-1', cart: 'node-1', currency: 'node-2', checkout: 'node-2', payment: 'node-1',
  shipping: 'node-2', email: 'node-2', accounting: 'node-1', 'fraud-detection': 'node-2', 'product-catalog': 'node-1',
  recommendation: 'node-2' };
export const BIG_TRACE_SPANS = 2430;
const MS = 1_000_000n; // ns per ms

/**
 * About 240 traces over the 50 minutes before `nowNs` (BigInt ns): [{traceId, kind, spans}], kind one of cart,
 * checkout, products, big.
 */
export function generateWebShop(nowNs) {
  const rng = makeRng(1470);
  const hex = (n) => Array.from({ length: n }, () => Math.floor(rng() * 16).toString(16)).join('');
  const traces = [];
  let spans;
  let traceId;
  const span = (parent, service, name, kind, startNs, durNs, attrs = {}, extra = {}) => {
    const s = { traceId, spanId: hex(16), parent: parent?.spanId ?? '', service, name, kind: KIND[kind],
      start: startNs, end: startNs + durNs, attrs, status: 0, links: [], ...extra };
    spans.push(s);
    return s;
  };
  const ms = (x) => BigInt(Math.round(x * 1e6)); // ms (fractional) → ns
  const rpc = (parent, from, to, method, start, dur, serverAttrs = {}) => {
    const c = span(parent, from, method, 'client', start, dur, { 'rpc.system': 'grpc', 'rpc.method': method.split('/')[1] });
    return span(c, to, method, 'server', start + ms(0.2), dur - ms(0.4), { 'rpc.system': 'grpc', ...serverAttrs });
  };
  const root = (i, method, route, start, dur) => {
    const failing = i % 10 === 7;
    const code = failing ? 500 : 200;
    const s = span(null, 'frontend', `${method} ${route}`, 'server', start, dur, {
      'http.request.method': method, 'http.route': route, 'http.status_code': code, 'http.response.status_code': code,
      'user_agent.original': i % 3 === 0 ? 'python-requests/2.32.3' : 'Mozilla/5.0 (X11; Linux x86_64) Firefox/125.0',
    });
    if (failing) s.status = 2;
    return s;
  };
  const count = 240;
  for (let i = 0; i < count; i++) {
    traceId = hex(32);
    spans = [];
    // Spread over the last 50 minutes; distinct starts keep "newest first" unambiguous.
    const start = nowNs - 50n * 60_000n * MS + BigInt(i) * 12_000n * MS + BigInt(Math.floor(rng() * 1e6));
    const dur = ms(20 + rng() * 280);
    if (i === count / 2) { // the big trace: recommendations fanning out to the catalogue
      const r = root(i, 'GET', '/api/recommendations', start, ms(900));
      const rec = rpc(r, 'frontend', 'recommendation', 'oteldemo.RecommendationService/ListRecommendations', start + ms(1), ms(880));
      span(rec, 'recommendation', 'get_product_list', 'internal', start + ms(2), ms(870)); // recommendation → itself
      for (let k = 0; 4 + 2 * k < BIG_TRACE_SPANS; k++) {
        rpc(rec, 'recommendation', 'product-catalog', 'oteldemo.ProductCatalogService/GetProduct', start + ms(3 + k * 0.7), ms(0.6),
          { 'app.product.id': `P${k % 40}` });
      }
    } else if (i % 4 === 0 || i % 4 === 3) { // the cart: viewed (GET) or added to (POST)
      const method = i % 4 === 0 ? 'GET' : 'POST';
      const r = root(i, method, '/api/cart', start, dur);
      const cart = rpc(r, 'frontend', 'cart', `oteldemo.CartService/${method === 'GET' ? 'GetCart' : 'AddItem'}`,
        start + ms(1), dur / 3n, { 'app.user.id': `u${i % 17}`, 'app.cart.items.count': i % 6 });
      span(cart, 'cart', 'HGET', 'client', start + ms(2), ms(1), { 'db.system': 'redis' }); // cart → itself
      const conv = rpc(r, 'frontend', 'currency', 'oteldemo.CurrencyService/Convert', start + dur / 2n, ms(3),
        { 'app.currency.conversion.from': 'USD', 'app.currency.conversion.to': i % 5 === 0 ? 'XXX' : 'EUR' });
      if (i % 5 === 0) conv.status = 2; // unknown currency
    } else if (i % 4 === 1) { // checkout: the long chain, a queue, and calls inside services
      const r = root(i, 'POST', '/api/checkout', start, dur + ms(100));
      const co = rpc(r, 'frontend', 'checkout', 'oteldemo.CheckoutService/PlaceOrder', start + ms(1), dur + ms(90));
      span(co, 'checkout', 'prepareOrderItemsAndShippingQuoteFromCart', 'internal', start + ms(2), ms(20)); // checkout → itself
      rpc(co, 'checkout', 'cart', 'oteldemo.CartService/GetCart', start + ms(3), ms(5), { 'app.cart.items.count': 3 });
      const conv = rpc(co, 'checkout', 'currency', 'oteldemo.CurrencyService/Convert', start + ms(10), ms(2));
      if (i % 9 === 1) conv.status = 2;
      const pay = rpc(co, 'checkout', 'payment', 'oteldemo.PaymentService/Charge', start + ms(15), ms(40),
        { 'app.payment.card_type': ['visa', 'mastercard', 'amex'][i % 3], 'app.payment.charged': i % 7 !== 5 });
      if (i % 7 === 5) pay.status = 2;
      span(pay, 'payment', 'charge', 'internal', start + ms(16), ms(30)); // payment → itself
      rpc(co, 'checkout', 'shipping', 'oteldemo.ShippingService/ShipOrder', start + ms(60), ms(8));
      rpc(co, 'checkout', 'email', 'oteldemo.EmailService/SendOrderConfirmation', start + ms(70), ms(12));
      const publish = span(co, 'checkout', 'orders publish', 'producer', start + ms(85), ms(2), { 'messaging.system': 'kafka' });
      const consume = span(publish, 'accounting', 'orders process', 'consumer', start + ms(95), ms(30), { 'messaging.system': 'kafka' });
      for (let k = 0; k < 3; k++) span(consume, 'accounting', `store order item ${k}`, 'internal', start + ms(96 + k * 9), ms(8)); // accounting → itself
      // fraud detection starts its own root, linked to the producer: a dependency through the link (§7.1)
      span(null, 'fraud-detection', 'orders process', 'consumer', start + ms(97), ms(15), { 'messaging.system': 'kafka' },
        { links: [{ traceId, spanId: publish.spanId }] });
    } else { // browsing the catalogue
      const r = root(i, 'GET', '/api/products', start, dur);
      for (let k = 0; k < 1 + (i % 4); k++) {
        const p = rpc(r, 'frontend', 'product-catalog', 'oteldemo.ProductCatalogService/GetProduct', start + ms(1 + k * 3), ms(2),
          { 'app.product.id': `P${(i + k) % 40}` });
        span(p, 'product-catalog', 'SELECT products', 'client', start + ms(1.5 + k * 3), ms(1), { 'db.system': 'postgresql' }); // itself
      }
    }
    traces.push({ traceId, spans, kind: i === count / 2 ? 'big' : ['cart', 'checkout', 'products', 'cart'][i % 4] });
  }
  return traces;
}

const value = (v) => (typeof v === 'string' ? { stringValue: v }
  : typeof v === 'boolean' ? { boolValue: v } : { intValue: String(v) });

/** OTLP/JSON of some spans: one resource per service, one scope each. */
export function webShopOtlp(spans) {
  const byService = new Map();
  for (const s of spans) {
    if (!byService.has(s.service)) byService.set(s.service, []);
    byService.get(s.service).push(s);
  }
  return {
    resourceSpans: [...byService].map(([service, list]) => ({
      resource: { attributes: [
        { key: 'service.name', value: { stringValue: service } },
        { key: 'k8s.node.name', value: { stringValue: NODE_OF[service] } },
        { key: 'service.instance.id', value: { stringValue: `${service}-0` } }] },
      scopeSpans: [{
        scope: { name: `oteldemo.${service}`, version: '2.0.2' },
        spans: list.map((s) => ({
          traceId: s.traceId, spanId: s.spanId, parentSpanId: s.parent, name: s.name, kind: s.kind,
          startTimeUnixNano: s.start.toString(), endTimeUnixNano: s.end.toString(),
          attributes: Object.entries(s.attrs).map(([key, v]) => ({ key, value: value(v) })),
          links: s.links.map((l) => ({ traceId: l.traceId, spanId: l.spanId })),
          status: s.status ? { code: s.status } : {},
        })),
      }],
    })),
  };
}
