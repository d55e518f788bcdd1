// SPDX-License-Identifier: GPL-2.0-or-later
// Sound for the RDP console (guacamole-common-js), kept out of pages/rdp.js.
//
// Audio out: the bridge opens `audio,66,audio/L16;rate=R,channels=C`; the default
// Guacamole.AudioPlayer plays it with Web Audio on Guacamole.AudioContextFactory's one context.
// Browsers start that context suspended until the page sees a user gesture (autoplay policy), so
// unlockAudio() resumes it on the first pointer/key/touch event. Mute drops the stream's blobs
// before the player sees them (the stream stays open and acknowledged; unmuting plays what comes next).
//
// Microphone: `audio,S,audio/L16;rate=44100,channels=2` (what Windows records; the bridge passes
// PCM through without resampling, and Guacamole.RawAudioRecorder resamples the browser's capture
// to the stream's rate) with Guacamole.AudioRecorder. The recorder has no stop method: stopping
// hands its stream a RESOURCE_CLOSED ack, as the server would, which stops the capture (tracks
// included) and sends `end`. If capture has not begun yet (the permission prompt is open), that
// waits for its first blob, so no microphone is ever left open.
import Guacamole from 'guacamole-common-js';

export const MIC_MIMETYPE = 'audio/L16;rate=44100,channels=2';

let unlockBound = false;
export function unlockAudio() {
  if (unlockBound) return;
  unlockBound = true;
  const events = ['pointerdown', 'keydown', 'touchend'];
  const resume = () => {
    const ctx = Guacamole.AudioContextFactory.getAudioContext();
    if (!ctx) return done();
    if (ctx.state === 'suspended') ctx.resume().then(() => { if (ctx.state === 'running') done(); }, () => {});
    else if (ctx.state === 'running') done();
  };
  const done = () => { for (const e of events) document.removeEventListener(e, resume, true); };
  for (const e of events) document.addEventListener(e, resume, true);
}

// client.onaudio: the default player, behind a mute switch (isMuted() is asked per blob).
export function playAudio(isMuted) {
  return (stream, mimetype) => {
    const player = Guacamole.AudioPlayer.getInstance(stream, mimetype);
    if (!player) return null; // the client answers BAD TYPE (0x030F): the bridge mutes the stream
    const onblob = stream.onblob; // set by the player's reader
    stream.onblob = (data) => { if (!isMuted() && onblob) onblob(data); };
    return player;
  };
}

// Opens a microphone stream on client. onstate('on' | 'error' | 'closed'). Returns stop().
export function startMic(client, onstate) {
  const stream = client.createAudioStream(MIC_MIMETYPE);
  const recorder = Guacamole.AudioRecorder.getInstance(stream, MIC_MIMETYPE);
  let stopping = false, ended = false, capturing = false;
  const closeAck = () => stream.onack && stream.onack(new Guacamole.Status(Guacamole.Status.Code.RESOURCE_CLOSED, 'stopped'));
  const sendBlob = stream.sendBlob.bind(stream), sendEnd = stream.sendEnd.bind(stream);
  stream.sendBlob = (data) => {
    if (ended) return;
    if (stopping) { closeAck(); return; } // capture has just begun after stop(): end it now
    if (!capturing) { capturing = true; onstate('on'); }
    sendBlob(data);
  };
  stream.sendEnd = () => { if (!ended) { ended = true; sendEnd(); } };
  if (!recorder) { stream.sendEnd(); onstate('error'); return () => {}; }
  recorder.onerror = () => { stream.sendEnd(); if (!stopping) onstate('error'); };
  recorder.onclose = () => { if (!stopping) onstate('closed'); };
  return function stop() {
    if (stopping) return;
    stopping = true;
    if (capturing) closeAck();
    // else: ended at the first blob (capture starting late), by the recorder's onerror, or never
    // started because the session is gone.
  };
}
