"""`piston run` through a real terminal (a pty, driven by pexpect), as a person uses it:
a reply stopped by Ctrl-C keeps the conversation and the prompt comes back; keys typed during
a reply are not echoed into it; \"\"\" multi-line input; /set and /show; the editing history
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


def test_ctrl_c_stops_the_reply_and_keeps_the_conversation(chat):
    chat.sendline("Write a very long story about a dragon who learns to fly.")
    chat.expect(r"\w+ \w+ \w+")  # the reply streams
    chat.send("typed during the reply")
    chat.sendintr()
    chat.expect_exact(">>> ", timeout=10)
    assert "typed during the reply" not in chat.before
    chat.sendline("/show info")
    chat.expect("architecture +llama")
    chat.expect_exact(">>> ")
    # the conversation is still there: /show does not reach the model, and a follow-up does
    chat.sendline("/set parameter num_predict 8")
    chat.expect_exact("Set parameter 'num_predict' to '8'")
    chat.expect_exact(">>> ")
    chat.sendline("And then?")
    chat.expect_exact(">>> ", timeout=30)


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
