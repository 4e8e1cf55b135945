#!/usr/bin/env python3
"""A stand-in for the SDiFI speech server (Axy): gRPC sdifi.speech.v1alpha.SpeechService/
StreamingRecognize, compiled at start from tests/fixtures/axy/speech.proto with grpcio-tools,
recognising with PocketSphinx 5 (the PyPI wheel's US-English model).

Behaviour (the published protocol): the first request must be a streaming_config (LINEAR16,
16 kHz), later ones audio_content; interim results (is_final=false) every 0.5 s of audio when
interim_results is set; when the client half-closes, one final result (is_final=true) and the
end of the stream. A broken request ends the call with INVALID_ARGUMENT. `--fail` answers every
stream with an `error` status instead; `--phrases` limits the recognizer to a domain's phrases.

Prints "PORT <n>" when listening on 127.0.0.1 (port 0 = any free one). Appends one JSON line per
stream to --log (config seen, bytes of audio, transcript) for the test to check.
"""
import argparse, json, os, subprocess, sys, tempfile, threading
from concurrent import futures

import grpc
from grpc_tools import protoc
from pocketsphinx import Decoder

here = os.path.dirname(os.path.abspath(__file__))
proto_dir = os.path.join(here, "..", "fixtures", "axy")
gen = tempfile.mkdtemp(prefix="axy-pb-")
tools_include = os.path.join(os.path.dirname(protoc.__file__), "_proto")
# The fixture keeps speech.proto at its top; give it the package path protoc expects.
pkg = os.path.join(gen, "src", "sdifi", "speech", "v1alpha")
os.makedirs(pkg)
os.makedirs(os.path.join(gen, "src", "google", "rpc"))
with open(os.path.join(proto_dir, "speech.proto")) as f, open(os.path.join(pkg, "speech.proto"), "w") as g:
    g.write(f.read())
with open(os.path.join(proto_dir, "google", "rpc", "status.proto")) as f, \
        open(os.path.join(gen, "src", "google", "rpc", "status.proto"), "w") as g:
    g.write(f.read())
rc = protoc.main(["protoc", f"-I{gen}/src", f"-I{tools_include}", f"--python_out={gen}",
                  f"--grpc_python_out={gen}", "sdifi/speech/v1alpha/speech.proto",
                  "google/rpc/status.proto"])
if rc != 0:
    sys.exit(f"protoc failed: {rc}")
sys.path.insert(0, gen)
from sdifi.speech.v1alpha import speech_pb2, speech_pb2_grpc  # noqa: E402
from google.rpc import status_pb2  # noqa: E402

lock = threading.Lock()


class Speech(speech_pb2_grpc.SpeechServiceServicer):
    def __init__(self, log, fail, phrases):
        self.log, self.fail, self.phrases = log, fail, phrases

    def StreamingRecognize(self, request_iterator, context):
        record = {"audio_bytes": 0, "requests": 0}
        first = next(request_iterator, None)
        if first is None or first.WhichOneof("streaming_request") != "streaming_config":
            context.abort(grpc.StatusCode.INVALID_ARGUMENT, "first request must be streaming_config")
        sc = first.streaming_config
        record.update(language=sc.config.language_code, rate=sc.config.sample_rate_hertz,
                      encoding=sc.config.encoding, interim=sc.interim_results,
                      single_utterance=sc.single_utterance, conversation=sc.conversation)
        if sc.config.encoding != speech_pb2.RecognitionConfig.LINEAR16 or sc.config.sample_rate_hertz != 16000:
            context.abort(grpc.StatusCode.INVALID_ARGUMENT, "LINEAR16 at 16000 Hz expected")
        if self.fail:
            self.write(record | {"failed": True})
            yield speech_pb2.StreamingRecognizeResponse(
                error=status_pb2.Status(code=13, message="recognizer backend unavailable"))
            return
        if self.phrases:
            # A server set up for one domain: its recognizer only knows these phrases.
            dec = Decoder(samprate=16000, lm=None)
            dec.add_jsgf_string("domain", "#JSGF V1.0;\ngrammar d;\npublic <p> = "
                                + " | ".join(self.phrases) + ";\n")
            dec.activate_search("domain")
        else:
            dec = Decoder(samprate=16000)
        dec.start_utt()
        since = 0
        for req in request_iterator:
            record["requests"] += 1
            if req.WhichOneof("streaming_request") != "audio_content":
                context.abort(grpc.StatusCode.INVALID_ARGUMENT, "only audio_content after the config")
            audio = req.audio_content
            record["audio_bytes"] += len(audio)
            dec.process_raw(audio, False, False)
            since += len(audio)
            if sc.interim_results and since >= 16000 and dec.hyp() is not None:
                since = 0
                yield speech_pb2.StreamingRecognizeResponse(results=[speech_pb2.StreamingRecognitionResult(
                    alternatives=[speech_pb2.SpeechRecognitionAlternative(transcript=dec.hyp().hypstr)],
                    is_final=False)])
        dec.end_utt()
        text = dec.hyp().hypstr if dec.hyp() is not None else ""
        record["transcript"] = text
        self.write(record)
        yield speech_pb2.StreamingRecognizeResponse(results=[speech_pb2.StreamingRecognitionResult(
            alternatives=[speech_pb2.SpeechRecognitionAlternative(transcript=text, confidence=0.9)],
            is_final=True)])

    def write(self, record):
        if self.log:
            with lock, open(self.log, "a") as f:
                f.write(json.dumps(record) + "\n")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--log")
    ap.add_argument("--fail", action="store_true")
    ap.add_argument("--phrases", help="comma-separated phrases the recognizer knows (else free speech)")
    a = ap.parse_args()
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=4))
    speech_pb2_grpc.add_SpeechServiceServicer_to_server(Speech(a.log, a.fail, [p.strip() for p in (a.phrases or "").split(",") if p.strip()]), server)
    port = server.add_insecure_port(f"127.0.0.1:{a.port}")
    server.start()
    print(f"PORT {port}", flush=True)
    server.wait_for_termination()


if __name__ == "__main__":
    main()
