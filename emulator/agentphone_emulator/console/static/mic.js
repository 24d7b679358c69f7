// Talking to the agent through the microphone: getUserMedia (echo cancelled, so loudspeakers
// work) -> an AudioWorklet -> 16 kHz PCM16 mono over the call's audio WebSocket; the agent's
// reply comes back as PCM16 and plays as it streams. Offered only where the emulator serves
// /__emulator/calls/{callId}/audio (feature detection on its OpenAPI document).
//
// What the person hears is counted on <body> (data-mic-*), so a test or a tool can tell what was
// played: data-mic-played-ms (agent speech played to its end, from the audio graph's own "ended"),
// data-mic-answer-received-ms, data-mic-answer-ms and data-mic-answer-peak (the speech that came
// after the caller's first utterance: received, played to its end, its loudest sample),
// data-mic-utterances (what the emulator recognised), data-mic ("on", "ended" once the call
// ended, "off").
import { currentKey } from "./api.js";

const RATE = 16000;

function count(name, add) {
  document.body.dataset[name] = String(Number(document.body.dataset[name] || 0) + add);
}

function playable(context, data) {
  const samples = new Int16Array(data);
  const buffer = context.createBuffer(1, samples.length, RATE);
  const channel = buffer.getChannelData(0);
  let peak = 0;
  for (let i = 0; i < samples.length; i++) {
    channel[i] = samples[i] / 32768;
    peak = Math.max(peak, Math.abs(samples[i]));
  }
  return { buffer, peak };
}

// status(text) says what is happening; ended() runs once the socket is gone (the call ended, the
// emulator stopped or refused): the microphone is released then, and the agent's last words
// still play to their end before the audio context closes.
export async function startMic(callId, status, ended) {
  const media = await navigator.mediaDevices.getUserMedia({ audio: { echoCancellation: true, noiseSuppression: true, channelCount: 1 } });
  const context = new AudioContext();
  await context.audioWorklet.addModule("/__emulator/console/pcm-worklet.js");
  const source = context.createMediaStreamSource(media);
  const capture = new AudioWorkletNode(context, "pcm16-capture", { processorOptions: { rate: RATE } });
  const scheme = location.protocol === "https:" ? "wss" : "ws";
  const socket = new WebSocket(`${scheme}://${location.host}/__emulator/calls/${callId}/audio`);
  socket.binaryType = "arraybuffer";
  document.body.dataset.mic = "on";
  let playAt = 0;
  let utterances = 0;
  let released = false;
  const sources = new Set();
  const silence = () => { for (const s of sources) { s.stopped = true; s.stop(); } sources.clear(); playAt = 0; };
  const closeWhenQuiet = () => { if (released && sources.size === 0 && context.state !== "closed") context.close(); };
  const release = () => {  // the microphone goes at once; what is playing plays out
    if (released) return;
    released = true;
    capture.port.onmessage = null;
    source.disconnect();
    for (const track of media.getTracks()) track.stop();
    closeWhenQuiet();
  };
  socket.addEventListener("open", () => {
    socket.send(JSON.stringify({ type: "start", apiKey: currentKey(), sampleRate: RATE }));
    capture.port.onmessage = (event) => { if (socket.readyState === WebSocket.OPEN) socket.send(event.data); };
    source.connect(capture);
    status("connecting: the recogniser loads");
  });
  socket.addEventListener("message", (event) => {
    if (typeof event.data === "string") {
      const message = JSON.parse(event.data);
      if (message.type === "bargeIn") silence();  // the person talks over the agent: stop its voice
      if (message.type === "utterance") { utterances += 1; count("micUtterances", 1); }
      status(describe(message));
      return;
    }
    const { buffer, peak } = playable(context, event.data);
    const answer = utterances > 0;  // speech after the caller's first words: the answers
    if (answer) count("micAnswerReceivedMs", Math.round(buffer.duration * 1000));
    const node = context.createBufferSource();
    node.buffer = buffer;
    node.connect(context.destination);
    playAt = Math.max(playAt, context.currentTime);
    node.start(playAt);
    playAt += buffer.duration;
    sources.add(node);
    node.onended = () => {
      sources.delete(node);
      if (!node.stopped) {  // played to its end, not cut by a barge-in
        const ms = Math.round(buffer.duration * 1000);
        count("micPlayedMs", ms);
        if (answer) {
          count("micAnswerMs", ms);
          document.body.dataset.micAnswerPeak = String(Math.max(peak, Number(document.body.dataset.micAnswerPeak || 0)));
        }
      }
      closeWhenQuiet();
    };
  });
  socket.addEventListener("close", (event) => {
    release();
    if (document.body.dataset.mic === "on") document.body.dataset.mic = "ended";
    if (event.code !== 1000 && event.reason) status(`microphone off: ${event.reason}`);
    ended();
  });
  return {
    stop() {
      document.body.dataset.mic = "off";
      socket.close();
      silence();
      release();
    },
  };
}

function describe(message) {
  switch (message.type) {
    case "ready": return "listening: talk now";
    case "partial": return message.text ? `hearing: ${message.text}…` : "listening";
    case "utterance": return `you said: ${message.text}`;
    case "reply": return `agent: ${message.text}`;
    case "bargeIn": return "you talked over the agent: it stops";
    case "ended": return `call ended (${message.reason || "over"}): microphone off`;
    case "error": return `error: ${message.message || message.detail}`;
    default: return message.type;
  }
}
