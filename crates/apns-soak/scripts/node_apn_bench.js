// @parse/node-apn (npm, unmodified) against the HTTP/2 mock, for the HTTP/2 benchmark
// (`apns-soak bench --http2`): its documented `address`, `port` and `ca` options point it at
// the mock; token auth. Config: one JSON argument
//   {"port", "ca", "key_file", "key_id", "team_id", "topic", "token", "count", "concurrency"}
// Sends `count` notifications, `concurrency` at a time (one `send` to that many recipients,
// which node-apn sends concurrently). Prints {"event":"start"} before the first send and
// {"event":"done","seconds","sent","failed","first_error"} at the end.
'use strict';

const apn = require('@parse/node-apn');

async function main(config) {
  const provider = new apn.Provider({
    address: 'localhost',
    port: config.port,
    ca: config.ca,
    production: true,
    requestTimeout: 30000,
    token: { key: config.key_file, keyId: config.key_id, teamId: config.team_id },
  });
  const note = new apn.Notification();
  note.topic = config.topic;
  note.alert = 'Hello World!';
  note.sound = 'default';
  note.badge = 1;
  let sent = 0;
  let failed = 0;
  let firstError = null;
  process.stdout.write(JSON.stringify({ event: 'start' }) + '\n');
  const start = process.hrtime.bigint();
  for (let done = 0; done < config.count; done += config.concurrency) {
    const recipients = new Array(Math.min(config.concurrency, config.count - done)).fill(config.token);
    const result = await provider.send(note, recipients);
    sent += result.sent.length;
    failed += result.failed.length;
    if (result.failed.length > 0 && firstError === null) {
      const failure = result.failed[0];
      firstError = JSON.stringify(failure.response || String(failure.error));
    }
  }
  const seconds = Number(process.hrtime.bigint() - start) / 1e9;
  process.stdout.write(JSON.stringify({ event: 'done', seconds, sent, failed, first_error: firstError }) + '\n');
  provider.shutdown();
  process.exit(0);
}

main(JSON.parse(process.argv[2])).catch(error => {
  process.stderr.write(String(error && error.stack ? error.stack : error) + '\n');
  process.exit(1);
});
