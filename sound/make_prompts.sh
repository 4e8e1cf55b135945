#!/usr/bin/env bash
# Generates every demo prompt in sound/ with espeak-ng + sox: 8 kHz, mono, 16-bit PCM WAV.
#
#   sound/make_prompts.sh          # regenerate all prompts (idempotent: same text, same bytes)
#   sound/make_prompts.sh --check  # only list what would be written
#
# Needs: apt-get install -y espeak-ng sox
# Layout: sound/<theme>/*.wav are a character's own prompts (flows/characters.yaml),
#         sound/*.wav are shared (characters) or belong to flows/main-menu.yaml and flows/agent.yaml.
# Every prompt text is in this file; change a line and run it again.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
check=0
[[ "${1:-}" == "--check" ]] && check=1

if [[ $check == 0 ]]; then
  for tool in espeak-ng sox; do
    command -v "$tool" >/dev/null || { echo "make_prompts.sh: $tool is not installed" >&2; exit 2; }
  done
fi

tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT

# prompt OUT VOICE PITCH SPEED TEXT
#   OUT is relative to sound/; VOICE is an espeak-ng voice+variant; PITCH 0-99; SPEED words/min.
prompt() {
  local out="$1" voice="$2" pitch="$3" speed="$4" text="$5"
  if [[ $check == 1 ]]; then
    printf '%-28s %s\n' "$out" "$text"
    return
  fi
  mkdir -p "$here/$(dirname "$out")"
  espeak-ng -v "$voice" -p "$pitch" -s "$speed" -w "$tmp/raw.wav" "$text"
  # -D: no dither, so the output is byte-for-byte reproducible.
  sox -D "$tmp/raw.wav" -r 8000 -c 1 -b 16 -e signed-integer "$here/$out" norm -3
  echo "wrote sound/$out"
}

# --- characters (flows/characters.yaml): one voice per theme ---------------------------------
bunny=(en-us+f3 80 165)
robot=(en-us+Robosoft 25 140)
pirate=(en-gb-scotland+m3 30 150)

for_theme() { local -n v="$1"; prompt "$1/$2" "${v[0]}" "${v[1]}" "${v[2]}" "$3"; }

for_theme bunny greeting.wav "Hi there, it's Bunny! Hop hop! Press 1 for a story, 2 for a song, or 3 for a joke. Press star or pound to change character."
for_theme bunny menu.wav "Bunny is listening. Press 1, 2 or 3."
for_theme bunny response_1.wav "Once upon a time, a little bunny found a giant carrot. She shared it with all her friends, and they had a carrot party until the moon came up. The end!"
for_theme bunny response_2.wav "Hop hop hop, I never stop! Carrots in the morning, clover in the sun, hopping with my friends is so much fun!"
for_theme bunny response_3.wav "What do you call a bunny with fleas? Bugs Bunny!"

for_theme robot greeting.wav "Beep boop. Robot online. Press 1 for a story, 2 for a song, or 3 for a joke. Press star or pound to change character."
for_theme robot menu.wav "Robot awaiting input. Press 1, 2 or 3."
for_theme robot response_1.wav "Log entry one. A small robot wanted to see the stars. It built a rocket from spare parts, counted down from ten, and zoomed up to say hello to the moon. End of log."
for_theme robot response_2.wav "Beep beep boop, I compute all day. Zero one zero, that is how I play. Oil my gears and charge me up, robots love a song!"
for_theme robot response_3.wav "Why did the robot go on holiday? To recharge its batteries. Ha. Ha. Ha."

for_theme pirate greeting.wav "Ahoy matey! Captain Pirate here. Press 1 for a story, 2 for a song, or 3 for a joke. Press star or pound to change character."
for_theme pirate menu.wav "Arr, what will it be? Press 1, 2 or 3."
for_theme pirate response_1.wav "Long ago, Captain Pirate sailed the seven seas looking for treasure. When she opened the chest at last, it was full of cookies! Best treasure ever. Arr!"
for_theme pirate response_2.wav "Heave ho, heave ho, across the waves we go! Hoist the sails and sing along, a pirate loves a song!"
for_theme pirate response_3.wav "Why couldn't the pirate play cards? Because he was sitting on the deck! Arr!"

# Shared by every theme (resolved as sound/<file> when sound/<theme>/<file> does not exist).
shared=(en-us+f2 50 160)
prompt invalid.wav "${shared[@]}" "Sorry, that key does nothing here. Let's try again."
prompt no_input.wav "${shared[@]}" "Are you still there? Press a key to choose."
prompt bye.wav "${shared[@]}" "Thanks for calling. Goodbye!"

# --- main-menu (flows/main-menu.yaml): Acme's company menu -----------------------------------
acme=(en-us+f4 45 160)
prompt welcome.wav "${acme[@]}" "Thank you for calling Acme."
prompt main_menu.wav "${acme[@]}" "For sales, press 1. For support, press 2. For our opening hours, press 3. To speak to an operator, press 0."
prompt vip.wav "${acme[@]}" "Welcome back. As a premium customer, you go straight to your account manager."
prompt sales.wav "${acme[@]}" "Connecting you to our sales team."
prompt support.wav "${acme[@]}" "Connecting you to technical support."
prompt hours.wav "${acme[@]}" "We are open Monday to Friday, from nine in the morning until six in the evening."
prompt transfer.wav "${acme[@]}" "Please hold while we transfer your call."
prompt sorry.wav "${acme[@]}" "Sorry, nobody can take your call right now. Please try again later."
prompt goodbye.wav "${acme[@]}" "Thank you for calling Acme. Goodbye."
# Shared by main-menu and agent: what a transfer that failed means in the demo.
prompt demo_needs_pbx.wav "${acme[@]}" "In this demo, transfers go to a phone system at p b x dot example dot com. Connect phonetree to your own P B X to reach a person."

# --- agent (flows/agent.yaml): an AI assistant with a human fallback -------------------------
agent=(en-us+f5 50 165)
prompt agent_intro.wav "${agent[@]}" "Hello! You are about to talk with our robot assistant. Just say goodbye when you are done."
prompt agent_handoff.wav "${agent[@]}" "Sorry, the assistant is not available right now. Let me put you through to a person."
prompt agent_goodbye.wav "${agent[@]}" "Thanks for chatting. Goodbye!"

# --- speech-menu (flows/speech-menu.yaml): a menu callers answer by voice, understood offline --
speech=(en-us+f4 45 160)
prompt speech_menu.wav "${speech[@]}" "Thank you for calling Acme. Which department would you like? Say sales, support, or opening hours. You can also press 1, 2 or 3."
prompt speech_account.wav "${speech[@]}" "Please say your four digit account number, one digit at a time."
prompt speech_confirm.wav "${speech[@]}" "Is that right? Please say yes or no."
prompt speech_sorry.wav "${speech[@]}" "Sorry, I did not catch that."
prompt leave_message.wav "${speech[@]}" "Please leave your message for technical support after the beep. Press pound when you are done."
prompt message_saved.wav "${speech[@]}" "Thank you. Your message is saved, and we will call you back."
