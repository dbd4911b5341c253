"""`piston run` through a real terminal (a pty, driven by pexpect), as a person uses it:
a reply stopped by Ctrl-C keeps the conversation (the next prompt holds it) and the prompt
comes back; keys typed during a reply are not echoed into it; \"\"\" multi-line input; /set and
/show (format json, think, repeat_last_n, license, modelfile); the editing history
(the up arrow); a second Ctrl-C at an empty prompt quits with exit code 0; and the one-shot
forms (`piston run MODEL PROMPT`, a piped stdin)."""
import subprocess

import pexpect
import pytest

from conftest import threads


@pytest.fixture
def chat(piston, model):
    p = pexpect.spawn(piston, ["run", model, "--temperature", "0", "-n", "400", "--threads", str(threads()),
                               "--max-model-len", "2048"], encoding="utf-8", timeout=60, dimensions=(40, 100))
    p.expect(r"ready\. ")
    p.expect_exact(">>> ")
    yield p
    if p.isalive():
        p.terminate(force=True)


def prompt_eval_count(chat, line):
    """Send line with /set verbose on; the prompt's token count Ollama-style timings report."""
    chat.sendline(line)
    chat.expect(r"prompt eval count: +(\d+) token", timeout=60)
    n = int(chat.match.group(1))
    chat.expect_exact(">>> ", timeout=60)
    return n


def test_ctrl_c_stops_the_reply_and_keeps_the_conversation(chat):
    chat.sendline("/set verbose")
    chat.expect_exact("Set 'verbose' mode.")
    chat.expect_exact(">>> ")
    chat.sendline("My name is Zorblax. Write a very long story about a dragon who learns to fly.")
    chat.expect(r"\w+ \w+ \w+")  # the reply streams
    chat.send("typed during the reply")
    chat.sendintr()
    chat.expect_exact(">>> ", timeout=10)
    assert "typed during the reply" not in chat.before
    chat.sendline("/show info")
    chat.expect("architecture +llama")
    chat.expect_exact(">>> ")
    chat.sendline("/set parameter num_predict 8")
    chat.expect_exact("Set parameter 'num_predict' to '8'")
    chat.expect_exact(">>> ")
    # the conversation is still there: the follow-up's prompt holds the first turn and the part
    # of the reply said before Ctrl-C; after /clear the same question is alone (greedy, exact)
    with_history = prompt_eval_count(chat, "What is my name?")
    chat.sendline("/clear")
    chat.expect_exact("Cleared session context")
    chat.expect_exact(">>> ")
    alone = prompt_eval_count(chat, "What is my name?")
    first_turn = len("My name is Zorblax. Write a very long story about a dragon who learns to fly.".split())
    assert with_history >= alone + first_turn + 3, (with_history, alone)


def test_format_think_license_modelfile(chat):
    chat.sendline("/set parameter num_predict 60")
    chat.expect_exact(">>> ")
    chat.sendline("/set format json")
    chat.expect_exact("Set format to 'json' mode.")
    chat.expect_exact(">>> ")
    chat.sendline("Describe a cat as JSON.")
    chat.expect_exact(">>> ", timeout=60)
    reply = chat.before.split("Describe a cat as JSON.", 1)[-1].strip()
    assert reply.startswith("{"), reply
    chat.sendline("/set noformat")
    chat.expect_exact("Disabled format.")
    chat.expect_exact(">>> ")
    chat.sendline("/set format yaml")
    chat.expect_exact("Couldn't set format: only 'json' is supported")
    chat.expect_exact(">>> ")
    chat.sendline("/set think")
    chat.expect("Couldn't set 'think': .* has no thinking mode")
    chat.expect_exact(">>> ")
    chat.sendline("/set parameter repeat_last_n 64")
    chat.expect_exact("Couldn't set parameter: Piston's repeat_penalty looks at every token")
    chat.expect_exact(">>> ")
    chat.sendline("/set parameter repeat_last_n -1")
    chat.expect_exact("Set parameter 'repeat_last_n' to '-1'")
    chat.expect_exact(">>> ")
    chat.sendline("/show license")
    chat.expect_exact("apache-2.0")
    chat.expect_exact(">>> ")
    chat.sendline("/set system You are terse.")
    chat.expect_exact(">>> ")
    chat.sendline("/show modelfile")
    chat.expect(r"FROM \S+\.gguf")
    chat.expect_exact('TEMPLATE """{{ if .System }}<|im_start|>system')
    chat.expect_exact('SYSTEM """You are terse."""')
    chat.expect_exact('PARAMETER stop "<|im_end|>"')
    chat.expect_exact("PARAMETER temperature 0")
    chat.expect_exact("PARAMETER num_predict 60")
    chat.expect_exact(">>> ")


def test_multiline_history_and_quit(chat):
    chat.sendline('"""Say hello')
    chat.expect_exact("... ")
    chat.sendline('in French."""')
    chat.expect_exact(">>> ", timeout=60)
    chat.sendline("/set parameter temperature 0.5")
    chat.expect_exact("Set parameter 'temperature' to '0.5'")
    chat.expect_exact(">>> ")
    chat.send("\x1b[A")  # the up arrow brings the last line back
    chat.expect_exact("/set parameter temperature 0.5")
    chat.send("\x15")  # Ctrl-U clears it
    chat.sendline("/bogus")
    chat.expect("Unknown command '/bogus'")
    chat.expect_exact(">>> ")
    chat.sendintr()
    chat.expect("Use Ctrl \\+ d or /bye to exit")
    chat.sendintr()
    chat.expect(pexpect.EOF, timeout=10)
    chat.close()
    assert chat.exitstatus == 0


def test_bye(chat):
    chat.sendline("/bye")
    chat.expect(pexpect.EOF, timeout=10)
    chat.close()
    assert chat.exitstatus == 0


def test_one_shot(piston, model):
    p = subprocess.run([piston, "run", model, "Say", "hi", "--temperature", "0", "-n", "8"], capture_output=True,
                       timeout=60)
    assert p.returncode == 0 and p.stdout.strip(), p.stderr.decode()
    q = subprocess.run([piston, "run", model, "Repeat:", "--temperature", "0", "-n", "8"], input=b"The sky is blue.\n",
                       capture_output=True, timeout=60)
    assert q.returncode == 0 and q.stdout.strip(), q.stderr.decode()
