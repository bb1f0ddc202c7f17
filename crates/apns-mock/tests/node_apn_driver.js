// Drives @parse/node-apn (npm, unmodified) against the HTTP/2 mock: its documented options
// `address`, `port` and `ca` point it at the mock. Config: one JSON argument
//   {"address", "port", "ca", "mode": "token"|"cert", "key_file", "key_id", "team_id", "cert_file",
//    "client_key_file", "topic", "requests": [{"id", "token", "alert", "push_type", "priority"}]}
// Prints one JSON line per request: {"id", "status", "reason", "sent"}.
'use strict';

const apn = require('@parse/node-apn');

async function main(config) {
  const options = { address: config.address, port: config.port, ca: config.ca, production: false, requestTimeout: 10000 };
  if (config.mode === 'token') {
    options.token = { key: config.key_file, keyId: config.key_id, teamId: config.team_id };
  } else {
    options.cert = config.cert_file;
    options.key = config.client_key_file;
  }
  const provider = new apn.Provider(options);
  const results = await Promise.all(
    config.requests.map(async spec => {
      const note = new apn.Notification();
      note.id = spec.id;
      note.topic = config.topic;
      note.alert = spec.alert;
      if (spec.push_type) note.pushType = spec.push_type;
      if (spec.priority) note.priority = spec.priority;
      const result = await provider.send(note, spec.token);
      if (result.sent.length === 1) {
        return { id: spec.id, status: 200, reason: null, sent: true };
      }
      const failed = result.failed[0] || {};
      return {
        id: spec.id,
        status: Number(failed.status) || null,
        reason: (failed.response && failed.response.reason) || (failed.error && String(failed.error)) || null,
        sent: false,
      };
    })
  );
  for (const result of results) {
    process.stdout.write(JSON.stringify(result) + '\n');
  }
  provider.shutdown();
  process.exit(0);
}

main(JSON.parse(process.argv[2])).catch(error => {
  process.stderr.write(String(error && error.stack ? error.stack : error) + '\n');
  process.exit(1);
});
