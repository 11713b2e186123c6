// A Koishi bot for test_koishi.py: the OneBot adapter named by KOISHI_ADAPTER (resolved in the
// current folder's node_modules), over the gateway's OneBot 11 forward WebSocket; answers
// "ping" with "pong" where it was said.
const { createRequire } = require('node:module')
const req = createRequire(process.cwd() + '/')
const unwrap = (m) => m.default || m

const { App } = req('koishi')
const app = new App()
// Koishi 4.18 has the http service (the adapters' WebSocket client) as a plugin; 4.14 built in.
try {
  app.plugin(unwrap(req('@koishijs/plugin-http')))
} catch (e) {
  if (e.code !== 'MODULE_NOT_FOUND') throw e
}
app.plugin(unwrap(req(process.env.KOISHI_ADAPTER)), {
  protocol: 'ws',
  selfId: process.env.KOISHI_SELF_ID,
  endpoint: process.env.KOISHI_ENDPOINT,
  token: process.env.KOISHI_TOKEN,
  retryInterval: 500,
})
app.on('message', (session) => {
  if (session.content === 'ping') session.send('pong from koishi')
})
app.start().then(() => console.log('koishi started'))
