// Switchboard's call scenario for Voximplant (VoxEngine). Upload it to the
// application and bind it to a routing rule; the telephony plugin starts it
// with StartScenarios(rule_id, script_custom_data) for each call. It calls
// the number, says the text (or plays the recording) `repeat` times, hangs
// up, and posts each outcome to the plugin's callback with the call's token.
// Custom data holds at most 200 bytes: a call that does not fit is fetched
// from the plugin (`fetch`, the callback URL, with its `key` and `token`).

VoxEngine.addEventListener(AppEvents.Started, () => {
  const given = JSON.parse(VoxEngine.customData());
  if (!given.fetch) return run(given);
  Net.httpRequestAsync(given.fetch, {
    method: 'POST',
    headers: ['Content-Type: application/json'],
    postData: JSON.stringify({ fetch: given.key, token: given.token }),
  })
    .then((res) => (res.code === 200 ? run(JSON.parse(res.text)) : VoxEngine.terminate()))
    .catch(() => VoxEngine.terminate());
});

function run(d) {
  let answeredAt = 0;
  let reported = false;

  // The plugin answers 200 once the report's events are committed; a 5xx
  // (its store away), a 429 or no answer (VoxEngine's codes of 0 and below:
  // a timeout, a refused connection) is tried again, 1, 2, 4 and 8 s
  // later, so that a rule waiting for the outcome gets it. Other answers
  // (a report it refuses) are not.
  function report(status, extra) {
    if (!d.callback) return Promise.resolve();
    const body = Object.assign({ call_id: d.call_id, token: d.token, status: status, to: '+' + d.to, from: '+' + d.from },
                               extra || {});
    const send = (tries) => {
      const again = () =>
        tries >= 5 ? undefined : new Promise((resolve) => setTimeout(resolve, 1000 * 2 ** (tries - 1))).then(() => send(tries + 1));
      return Net.httpRequestAsync(d.callback, {
        method: 'POST',
        headers: ['Content-Type: application/json'],
        postData: JSON.stringify(body),
      }).then((res) => (res.code <= 0 || res.code >= 500 || res.code === 429 ? again() : undefined), again);
    };
    return send(1);
  }

  function end(status, extra) {
    if (reported) return;
    reported = true;
    report(status, extra).then(() => VoxEngine.terminate());
  }

  // The voice by its VoiceList path ("YandexV3.ru_RU_alena"); speed in percent
  // of normal, volume in dB mapped to SSML's words.
  const voicePath = d.voice || 'YandexV3.ru_RU_alena';
  function voice() {
    return voicePath.split('.').reduce((o, k) => (o ? o[k] : undefined), VoiceList);
  }
  // YandexV3 voices take SpeechKit v3's own parameters (`request`), not
  // ttsOptions: the speed as a hint; they have no volume.
  function sayOptions() {
    const speed = String((d.speed || 100) / 100);
    if (voicePath.startsWith('YandexV3.'))
      return d.speed && d.speed !== 100 ? { voice: voice(), request: { hints: [{ speed: speed }] } } : { voice: voice() };
    return { voice: voice(), ttsOptions: { speed: speed, volume: volumeWord(d.volume || 0) } };
  }
  function volumeWord(db) {
    if (db <= -6) return 'x-soft';
    if (db < 0) return 'soft';
    if (db >= 6) return 'x-loud';
    if (db > 0) return 'loud';
    return 'medium';
  }

  const call = VoxEngine.callPSTN(d.to, d.from);
  const ringing = setTimeout(() => call.hangup(), (d.ring_timeout || 30) * 1000);

  call.addEventListener(CallEvents.Connected, () => {
    clearTimeout(ringing);
    answeredAt = Date.now();
    report('answered');
    let left = d.repeat || 1;
    const next = () => {
      if (left-- <= 0) return call.hangup();
      if (d.play) {
        call.startPlayback(d.play, { loop: false });
      } else {
        call.say(d.say, sayOptions());
      }
    };
    call.addEventListener(CallEvents.PlaybackFinished, next);
    next();
  });

  call.addEventListener(CallEvents.Failed, (e) => {
    clearTimeout(ringing);
    // SIP codes: 486 and 600 busy, 603 declined (as busy: Twilio reports a
    // rejected call so); 480, 408 and 487 (our ring timeout) nobody answered.
    const status = [486, 600, 603].includes(e.code) ? 'busy' : [480, 408, 487].includes(e.code) ? 'no_answer' : 'failed';
    end(status, { code: String(e.code), reason: e.reason });
  });

  call.addEventListener(CallEvents.Disconnected, () => {
    clearTimeout(ringing);
    if (!answeredAt) return end('no_answer', { code: 'hangup' });
    end('completed', { duration: Math.round((Date.now() - answeredAt) / 1000) });
  });
}
