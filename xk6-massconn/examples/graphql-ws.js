// GraphQL subscriptions over graphql-ws (subprotocol graphql-transport-ws):
// every connection subscribes once, counts "next" messages and measures
// latency from data.tick.ts (an ISO 8601 string).
//   k6 run -e URL=ws://127.0.0.1:4000/graphql examples/graphql-ws.js
// Change the query and the latency path to your schema.
import massconn from 'k6/x/massconn';

export const options = {
  thresholds: {
    massconn_failures: ['count==0'],
    massconn_drops: ['count==0'],
    massconn_latency: ['p(99)<500'],
  },
};

export default function () {
  const pool = massconn.connect({
    urls: [__ENV.URL || 'ws://127.0.0.1:4000/graphql'],
    connections: Number(__ENV.CONNECTIONS || 1000),
    protocol: {
      name: 'graphql-ws',
      query: 'subscription { tick { seq ts } }',
      initPayload: { client: 'k6-{{conn}}' },
    },
    latency: { path: 'data.tick.ts' },
  });
  pool.hold(__ENV.HOLD || '60s');
  console.log(`events received: ${pool.stats().received}`);
  pool.close();
}
