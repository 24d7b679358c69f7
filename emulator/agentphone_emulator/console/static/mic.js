// Talking to the agent through the microphone: getUserMedia (echo cancelled, so loudspeakers
// work) -> an AudioWorklet -> 16 kHz PCM16 mono over the call's audio WebSocket; the agent's
// reply comes back as PCM16 and plays as it streams. Offered only where the emulator serves
// /__emulator/calls/{callId}/audio (feature detection on its OpenAPI document).
import { currentKey } from "./api.js";

const RATE = 16000;

export async function startMic(callId, status) {
  const media = await navigator.mediaDevices.getUserMedia({ audio: { echoCancellation: true, noiseSuppression: true, channelCount: 1 } });
  const context = new AudioContext();
  await context.audioWorklet.addModule("/__emulator/console/pcm-worklet.js");
  const source = context.createMediaStreamSource(media);
  const capture = new AudioWorkletNode(context, "pcm16-capture", { processorOptions: { rate: RATE } });
  const scheme = location.protocol === "https:" ? "wss" : "ws";
  const socket = new WebSocket(`${scheme}://${location.host}/__emulator/calls/${callId}/audio`);
  socket.binaryType = "arraybuffer";
  let playAt = 0;
  const sources = new Set();
  const silence = () => { for (const s of sources) s.stop(); sources.clear(); playAt = 0; };
  socket.addEventListener("open", () => {
    socket.send(JSON.stringify({ type: "start", apiKey: currentKey(), sampleRate: RATE }));
    capture.port.onmessage = (event) => { if (socket.readyState === WebSocket.OPEN) socket.send(event.data); };
    source.connect(capture);
    status("listening");
  });
  socket.addEventListener("message", (event) => {
    if (typeof event.data === "string") {
      const message = JSON.parse(event.data);
      if (message.type === "bargeIn") silence();  // the person talks over the agent: stop its voice
      status(message.type === "error" ? `error: ${message.message || message.detail}` : `${message.type}: ${message.text || ""}`);
      return;
    }
    const samples = new Int16Array(event.data);
    const buffer = context.createBuffer(1, samples.length, RATE);
    const channel = buffer.getChannelData(0);
    for (let i = 0; i < samples.length; i++) channel[i] = samples[i] / 32768;
    const node = context.createBufferSource();
    node.buffer = buffer;
    node.connect(context.destination);
    playAt = Math.max(playAt, context.currentTime);
    node.start(playAt);
    playAt += buffer.duration;
    sources.add(node);
    node.onended = () => sources.delete(node);
  });
  socket.addEventListener("close", () => status("microphone off"));
  return {
    stop() {
      socket.close();
      source.disconnect();
      for (const track of media.getTracks()) track.stop();
      context.close();
    },
  };
}
