"""The Generative models page's "Show the code": per model a plain PyTorch script (it never imports
the app) made of the app's own source, that trains the model with the page's settings on the
same data, prints the losses and writes samples."""

from __future__ import annotations

import ast
import inspect
import textwrap
from dataclasses import fields

from explorer.generative import data as image_sets
from explorer.generative.base import BaseSettings
from explorer.generative.flow import DRAWN
from explorer.generative.registry import MODELS
from explorer.generative.source import Wanted, copied, import_lines
from explorer.training.data import shapes_dataset
from explorer.training.script import zip_code

ALIASES = {"noise": "NOISE_LEVEL"}  # fields whose constant would clash with copied code's names
SHAPES_TEST = inspect.signature(shapes_dataset).parameters["n_test"].default
PRINTS = 20  # about as many lines of losses as this, whatever the number of steps
SAMPLES = {"ae": 64, "vae": 64, "gan": 64, "diffusion": 30, "gan2d": 1_000, "flow": 1_000}


def _names(module: str, *names: str) -> list[Wanted]:
    return [(f"explorer.generative.{module}", name) for name in names]


# ---------------------------------------------------------------- the data of the image models

_TORCHVISION = '''def as_tensors(split):
    """A torchvision dataset -> (N, 1, 28, 28) uint8 images and (N,) int64 labels."""
    images = torch.as_tensor(np.asarray(split.data)).unsqueeze(1)
    return images.contiguous(), torch.as_tensor(np.asarray(split.targets), dtype=torch.int64)


train_images, train_labels = as_tensors(torchvision.datasets.{name}("data", train=True, download=True))
test_images, test_labels = as_tensors(torchvision.datasets.{name}("data", train=False, download=True))'''


def _image_data(dataset: str, count: str, test: bool) -> tuple[list[Wanted], set[str], str]:
    """(definitions to copy, imports, lines) making uint8 train_images (N, C, H, W) and
    train_labels (N,) as explorer.generative.data.image_data does (and test_images if `test`)."""
    if dataset == "shapes":
        lines = ["# The built-in Shapes, drawn as CNN Explorer draws them (the same bytes):",
                 "# uint8 images (N, 3, 32, 32) and labels (N,)",
                 f"train_images, train_labels = _shape_split({count}, 32, "
                 "np.random.default_rng([0, 0]))"]
        if test:
            lines += ["# the test images come from another random stream",
                      "test_images, test_labels = _shape_split(N_TEST, 32, "
                      "np.random.default_rng([0, 1]))"]
        return [("explorer.training.data", "_shape_split")], {"import numpy as np"}, \
            "\n".join(lines)
    if dataset in ("mnist", "fashion"):
        name = {"mnist": "MNIST", "fashion": "FashionMNIST"}[dataset]
        return [], {"import numpy as np", "import torchvision"}, _TORCHVISION.format(name=name)
    imports = {"import io", "import math", "import zipfile", "from pathlib import PurePosixPath",
               "from PIL import Image, ImageOps", "import numpy as np",
               "import torch.nn.functional as F"}
    return [], imports, zip_code()


def _data_constants(dataset: str, n_train: int, n_test: int, test: bool) -> list[str]:
    if dataset == "shapes":
        return [f"N_TRAIN = {_literal(n_train)}  # Shapes training images (the page's number)"
                ] + ([f"N_TEST = {_literal(n_test)}  # test images (the samples' codes)"]
                     if test else [])
    if dataset in ("mnist", "fashion"):
        return ["# the images come from torchvision (downloaded to ./data)"]
    return ['ZIP_PATH = "my_images.zip"  # your zip: one folder of images per class',
            f"IMAGE_SIZE = {image_sets.ZIP_SIZE}  # resized to IMAGE_SIZE x IMAGE_SIZE colour"]


# ---------------------------------------------------------------- each model's training and samples

_BATCH = '''batches = torch.Generator().manual_seed(SEED)  # which training images each step takes


def next_batch():
    """A random batch of training images, float32 (B, C, H, W) in [0, 1]."""
    index = torch.randint(len(train_images), (min(BATCH_SIZE, len(train_images)),),
                          generator=batches)
    return train_images[index].float() / 255


'''

_AE = _BATCH + '''noise = torch.Generator().manual_seed(SEED + 1)  # the noise added to the input (denoising)
torch.manual_seed(SEED)  # the weights' initial values
model = AutoEncoder(tuple(train_images.shape[1:]), WIDTH, LATENT)
optimiser = torch.optim.Adam(model.parameters(), lr=LEARNING_RATE)


def train_step():
    model.train()
    x = next_batch()
    x_hat = model(add_noise(x, NOISE_LEVEL, noise))  # the target stays the clean x
    loss = reconstruction_loss(x_hat, x)  # ||x - D(E(x))||^2 per image, mean over the batch
    optimiser.zero_grad(set_to_none=True)
    loss.backward()
    optimiser.step()
    return {"loss": loss.item()}
'''

_AE_SAMPLES = '''# An autoencoder has no prior: codes are drawn from a Gaussian fitted to test images' codes
# (mean and covariance) and decoded; usually worse than a VAE's samples, the point of it.
model.eval()
with torch.no_grad():
    z = model.encoder(test_images[:LATENT_POINTS].float() / 255).double()  # (P, LATENT)
mean, cov = z.mean(0), torch.cov(z.T) + 1e-6 * torch.eye(z.shape[1], dtype=torch.float64)
eps = torch.randn(SAMPLES, z.shape[1], generator=torch.Generator().manual_seed(0),
                  dtype=torch.float64)
with torch.no_grad():
    samples = model.decoder((mean + eps @ torch.linalg.cholesky(cov).T).float()).numpy()
'''

_VAE = _BATCH + '''eps_stream = torch.Generator().manual_seed(SEED + 1)  # the reparameterisation's eps
torch.manual_seed(SEED)  # the weights' initial values
model = VAE(tuple(train_images.shape[1:]), WIDTH, LATENT)
optimiser = torch.optim.Adam(model.parameters(), lr=LEARNING_RATE)


def train_step():
    model.train()
    x = next_batch()
    eps = torch.randn(x.shape[0], LATENT, generator=eps_stream)  # z = mu + sigma * eps
    x_hat, mu, log_var = model(x, eps)
    terms = vae_loss(x, x_hat, mu, log_var, BETA)  # ||x - x_hat||^2 + BETA * KL
    optimiser.zero_grad(set_to_none=True)
    terms["loss"].backward()
    optimiser.step()
    return {name: value.item() for name, value in terms.items()}
'''

_VAE_SAMPLES = '''model.eval()  # samples: decode z ~ N(0, I)
with torch.no_grad():
    z = torch.randn(SAMPLES, LATENT, generator=torch.Generator().manual_seed(0))
    samples = model.decoder(z).numpy()
'''

_GAN = '''shape = tuple(train_images.shape[1:])  # (C, S, S)
torch.manual_seed(SEED)  # the weights' initial values
generator = Generator(LATENT, WIDTH, shape)
discriminator = Discriminator(WIDTH, shape)
betas = (0.5, 0.999)  # DCGAN's: a short memory of momentum keeps the game stable
opt_g = torch.optim.Adam(generator.parameters(), LR_G, betas=betas)
opt_d = torch.optim.Adam(discriminator.parameters(), LR_D, betas=betas)
rng = torch.Generator().manual_seed(SEED + 1)  # real batches and z's


def train_step():
    """One Adam step of D on J_D (a real and a fake batch), then one of G on J_G."""
    index = torch.randint(len(train_images), (BATCH_SIZE,), generator=rng)
    real = train_images[index].float() / 255  # (B, C, S, S) in [0, 1]
    z = torch.randn(BATCH_SIZE, LATENT, generator=rng)
    fake = generator(z)  # keeps its graph for G's step
    real_logits = discriminator(real)
    fake_logits = discriminator(fake.detach())
    j_d = discriminator_loss(real_logits, fake_logits)
    opt_d.zero_grad(set_to_none=True)
    j_d.backward()
    opt_d.step()
    discriminator.requires_grad_(False)  # G's step needs no gradient of D's weights
    j_g = generator_loss(discriminator(fake))  # G answers D after D's step
    opt_g.zero_grad(set_to_none=True)
    j_g.backward()
    opt_g.step()
    discriminator.requires_grad_(True)
    return {"loss": j_d.item() + j_g.item(), "J_D": j_d.item(), "J_G": j_g.item(),
            "D(x)": torch.sigmoid(real_logits).mean().item(),
            "D(G(z))": torch.sigmoid(fake_logits).mean().item()}
'''

_GAN_SAMPLES = "samples = decode(generator, fixed_z(SAMPLES, LATENT, 0))  # G(z), z ~ N(0, I)\n"

_GAN2D = '''torch.manual_seed(SEED)  # the weights' initial values
generator = mlp(LATENT, HIDDEN, LAYERS, 2, nn.ReLU)  # z -> a point of the plane
discriminator = mlp(2, HIDDEN, LAYERS, 1, nn.LeakyReLU)  # a point -> D's logit
opt_g = torch.optim.Adam(generator.parameters(), LR_G, betas=(0.5, 0.999))
opt_d = torch.optim.Adam(discriminator.parameters(), LR_D, betas=(0.5, 0.999))
rng = np.random.default_rng(SEED)  # the real points
z_stream = torch.Generator().manual_seed(SEED + 1)  # the z's
draw = DISTRIBUTIONS[DATASET].draw  # (count, rng) -> (count, 2) real points
g_loss = G_LOSSES[G_LOSS]


def train_step():
    """D_STEPS Adam steps of D on J_D, then one of G on its loss against the new D."""
    for _ in range(D_STEPS):
        real = torch.from_numpy(draw(BATCH_SIZE, rng)).float()
        with torch.no_grad():
            fake = generator(torch.randn(BATCH_SIZE, LATENT, generator=z_stream))
        real_logits, fake_logits = discriminator(real).squeeze(1), discriminator(fake).squeeze(1)
        j_d = discriminator_loss(real_logits, fake_logits)
        opt_d.zero_grad(set_to_none=True)
        j_d.backward()
        opt_d.step()
    fake = generator(torch.randn(BATCH_SIZE, LATENT, generator=z_stream))
    j_g = g_loss(discriminator(fake).squeeze(1))
    opt_g.zero_grad(set_to_none=True)
    j_g.backward()
    opt_g.step()
    return {"loss": j_d.item() + j_g.item(), "J_D": j_d.item(), "J_G": j_g.item(),
            "D(x)": torch.sigmoid(real_logits).mean().item(),
            "D(G(z))": torch.sigmoid(fake_logits).mean().item()}
'''

_GAN2D_SAMPLES = '''with torch.no_grad():  # G's points for fresh z's, clipped to the unit square
    z = torch.randn(SAMPLES, LATENT, generator=torch.Generator().manual_seed(0))
    samples = np.clip(generator(z).numpy(), 0.0, 1.0)
'''

_FLOW_POINTS = '''train = DATASETS[DATASET].make(POINTS, NOISE_LEVEL, np.random.default_rng(SEED))
test = DATASETS[DATASET].make(TEST_POINTS, NOISE_LEVEL, np.random.default_rng(SEED + 1))
train, test = train.astype(np.float32), test.astype(np.float32)  # (n, 2), held out (m, 2)
'''

_FLOW_DRAWN = '''train = np.asarray(DRAWN_POINTS, dtype=np.float32).reshape(-1, 2)  # (n, 2)
test = train  # drawn points: the test NLL is on the same points
'''

_FLOW = '''torch.manual_seed(SEED)
order = torch.Generator().manual_seed(SEED)  # each step's mini-batch
flow = Flow(train, COUPLINGS, HIDDEN)  # x -> z, standardise then the couplings
optimiser = torch.optim.Adam(flow.parameters(), lr=LEARNING_RATE)
train_x = torch.as_tensor(train)


def nll_terms(x):
    """(-mean log N(f(x); 0, I), -mean log|det df/dx|): their sum is the NLL per point."""
    z, log_det = flow(x)
    return -log_base(z).mean(), -log_det.mean()


def train_step():
    index = torch.randperm(len(train_x), generator=order)[:min(BATCH_SIZE, len(train_x))]
    base, log_det = nll_terms(train_x[index])
    loss = base + log_det  # maximum likelihood: minimise the NLL
    optimiser.zero_grad(set_to_none=True)
    loss.backward()
    optimiser.step()
    return {"loss": float(loss.detach()), "base": float(base.detach()),
            "log_det": float(log_det.detach())}
'''

_FLOW_SAMPLES = '''with torch.no_grad():  # the NLL of held-out points, then samples
    base, log_det = nll_terms(torch.as_tensor(test))
    print(f"test NLL {float(base + log_det):.4f} nats per point "
          f"(base {float(base):.4f} + log-det {float(log_det):.4f})")
    z = torch.randn((SAMPLES, 2), generator=torch.Generator().manual_seed(0))
    samples = flow.inverse(z).numpy()  # x = f^-1(z), z ~ N(0, I)
'''

_DIFFUSION = '''schedule = make_schedule(SCHEDULE, TIMESTEPS)  # beta_t and alpha-bar_t
g = torch.Generator().manual_seed(SEED)  # batches, hidden labels, t and the noise
torch.manual_seed(SEED)  # the weights' initial values
N_CLASSES = int(train_labels.max()) + 1  # label N_CLASSES is "no class"
model = Denoiser(N_CLASSES, WIDTH, train_images.shape[1])
optimiser = torch.optim.Adam(model.parameters(), lr=LEARNING_RATE)
# the moving average of the weights samples better than the last step's weights
average = copy.deepcopy(model).requires_grad_(False) if EMA else None
steps_done = 0


def train_step():
    """L = ||eps - eps_theta(sqrt(ab_t) x_0 + sqrt(1 - ab_t) eps, t, y)||^2, t uniform in 1..T."""
    global steps_done
    model.train()
    index = torch.randint(len(train_images), (BATCH_SIZE,), generator=g)
    x0 = train_images[index].float() / 127.5 - 1  # (B, C, H, W) in [-1, 1]
    y = train_labels[index].clone()
    y[torch.rand(BATCH_SIZE, generator=g) < LABEL_DROPOUT] = N_CLASSES  # "no class"
    t = torch.randint(1, TIMESTEPS + 1, (BATCH_SIZE,), generator=g)
    noise = torch.randn(x0.shape, generator=g)
    loss = F.mse_loss(model(q_sample(schedule, x0, t, noise), t, y), noise)
    optimiser.zero_grad(set_to_none=True)
    loss.backward()
    # a short warm-up, then the rate decays to a tenth over MAX_STEPS (cosine)
    steps_done += 1
    progress = min(1.0, steps_done / MAX_STEPS)
    warm = min(1.0, steps_done / min(200, max(1, MAX_STEPS // 10)))
    for group in optimiser.param_groups:
        group["lr"] = LEARNING_RATE * warm * (0.55 + 0.45 * math.cos(math.pi * progress))
    nn.utils.clip_grad_norm_(model.parameters(), 1.0)
    optimiser.step()
    if average is not None:  # EMA, its decay ramped up over the first steps
        decay = min(EMA, (1 + steps_done) / (10 + steps_done))
        with torch.no_grad():
            for kept, new in zip(average.parameters(), model.parameters(), strict=True):
                kept.lerp_(new, 1 - decay)
    return {"loss": float(loss.detach())}
'''

_DIFFUSION_SAMPLES = '''labels = torch.arange(SAMPLES) % N_CLASSES  # the classes in turn
x, _, _ = reverse_chain(model if average is None else average, schedule, labels,
                        steps=SAMPLE_STEPS, guidance=GUIDANCE, sampler=SAMPLER,
                        generator=torch.Generator().manual_seed(0),
                        shape=tuple(train_images.shape[1:]))
samples = to_unit(x)  # (N, C, H, W) in [0, 1]
'''

_LOOP = '''PRINT_EVERY = {every}
start = time.perf_counter()
for step in range(1, MAX_STEPS + 1):  # MAX_STEPS or MAX_SECONDS, whichever comes first
    losses = train_step()
    out_of_time = time.perf_counter() - start >= MAX_SECONDS
    if step == 1 or step % PRINT_EVERY == 0 or step == MAX_STEPS or out_of_time:
        print(f"step {{step}}: " + ", ".join(f"{{k}} {{v:.6g}}" for k, v in losses.items()))
    if out_of_time:
        break
'''

_SAVE_IMAGES = '''Image.fromarray(image_grid(samples, {columns})).save("{key}_samples.png")
print("wrote {key}_samples.png")
'''

_SAVE_POINTS = '''np.savetxt("{key}_samples.csv", samples, delimiter=",", header="x,y", comments="")
print("wrote {key}_samples.csv")
try:  # a picture too, if matplotlib is installed
    import matplotlib.pyplot as plt
except ImportError:
    plt = None
if plt is not None:
    plt.scatter(*samples.T, s=4)
    plt.gca().set_aspect("equal")
    plt.savefig("{key}_samples.png")
    print("wrote {key}_samples.png")
'''

# key -> (definitions copied from the model's module, the training, the samples, extra imports)
_MODELS: dict[str, tuple[list[Wanted], str, str, set[str]]] = {
    "ae": (_names("autoencoder", "AutoEncoder", "reconstruction_loss", "add_noise",
                  "LATENT_POINTS"), _AE, _AE_SAMPLES, set()),
    "vae": (_names("vae", "VAE", "vae_loss"), _VAE, _VAE_SAMPLES, set()),
    "gan": (_names("gan", "Generator", "MinibatchStd", "Discriminator", "discriminator_loss",
                   "generator_loss", "fixed_z", "decode"), _GAN, _GAN_SAMPLES, set()),
    "gan2d": (_names("gan2d", "mlp", "DISTRIBUTIONS", "G_LOSSES", "discriminator_loss"), _GAN2D,
              _GAN2D_SAMPLES, {"import numpy as np", "from torch import nn"}),
    "flow": (_names("flow", "Flow", "log_base"), _FLOW, _FLOW_SAMPLES, {"import numpy as np"}),
    "diffusion": (_names("diffusion", "Denoiser", "make_schedule", "q_sample", "LABEL_DROPOUT",
                         "reverse_chain", "to_unit"),
                  _DIFFUSION, _DIFFUSION_SAMPLES,
                  {"import copy", "import math", "import torch.nn.functional as F",
                   "from torch import nn"}),
}
IMAGES = ("ae", "vae", "gan", "diffusion")


def _constants(settings: BaseSettings, skip: set[str]) -> list[str]:
    """One upper-case constant per field of the settings (the page's values)."""
    lines = []
    for field in fields(settings):
        if field.name not in skip:
            name = ALIASES.get(field.name, field.name.upper())
            lines.append(f"{name} = {_literal(getattr(settings, field.name))}")
    return lines


def _literal(value: object) -> str:
    """Python source for a setting: "text" (a registry key), 20_000, 0.002."""
    if isinstance(value, str):
        return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
    if isinstance(value, int) and not isinstance(value, bool) and abs(value) >= 10_000:
        return f"{value:_}"
    return repr(value)


def _drawn(points: tuple[tuple[float, float], ...]) -> str:
    body = textwrap.fill(", ".join(f"({x!r}, {y!r})" for x, y in points), 96,
                         initial_indent="    ", subsequent_indent="    ")
    return f"DRAWN_POINTS = [  # the points you drew (x, y)\n{body},\n]"


def generative_script(key: str, settings: BaseSettings, *, n_train: int | None = None,
                      n_test: int | None = None) -> str:
    """The script for model `key` (a key of registry.MODELS) with these settings. n_train and
    n_test size the Shapes an image model learns from (default: the page's; diffusion's
    training images are its own setting)."""
    if key not in _MODELS:
        raise ValueError(f"Unknown model {key!r}; choose one of {', '.join(MODELS)}.")
    wanted, training, sampling, imports = _MODELS[key]
    wanted = list(wanted)
    imports = imports | {"import time", "import torch"}
    skip = {"drawn"}
    data = ""
    constants: list[str] = []
    if key in IMAGES:
        dataset = settings.dataset
        skip.add("dataset")
        count = "TRAIN_IMAGES" if key == "diffusion" else "N_TRAIN"
        if key != "diffusion":
            constants = _data_constants(dataset, n_train or image_sets.SHAPES_TRAIN,
                                        n_test or SHAPES_TEST, key == "ae")
        elif dataset != "shapes":  # the zip's path (or MNIST's note); the count is TRAIN_IMAGES
            constants = _data_constants(dataset, 0, 0, False)
        more, data_imports, data = _image_data(dataset, count, key == "ae")
        if key == "diffusion" and dataset != "shapes":  # the first TRAIN_IMAGES, as the app
            data += ("\ntrain_images, train_labels = train_images[:TRAIN_IMAGES], "
                     "train_labels[:TRAIN_IMAGES]")
        wanted += more + [("explorer.generative.plots", "image_grid")]
        imports |= data_imports | {"from PIL import Image"}
        if "from PIL import Image, ImageOps" in imports:
            imports.discard("from PIL import Image")
        saving = _SAVE_IMAGES.format(key=key, columns=10 if key == "diffusion" else 8)
    else:
        saving = _SAVE_POINTS.format(key=key)
    if key == "flow":
        drawn = settings.dataset == DRAWN
        data = _FLOW_DRAWN if drawn else _FLOW_POINTS
        if drawn:
            constants.append(_drawn(settings.drawn))
        else:
            wanted += _names("flow", "DATASETS", "TEST_POINTS")
    code = copied(wanted)
    constants = [*_constants(settings, skip), *constants, f"SAMPLES = {SAMPLES[key]}"]
    every = max(1, settings.max_steps // PRINTS)
    body = "\n\n\n".join(part.strip("\n") for part in (
        "# ---- the data\n" + data, "# ---- the model and one training step\n" + training,
        "# ---- training (the losses the page plots)\n" + _LOOP.format(every=every),
        "# ---- samples\n" + sampling + saving))
    clash = code.names & _bound("\n".join(constants) + "\n" + body)
    if clash:
        raise ValueError(f"The script's own names clash with the copied code's: {sorted(clash)}")
    label = MODELS[key].label
    return "\n".join([
        f'"""{label}: the Generative models page of CNN Explorer as a script. It trains the '
        'model\nwith the page\'s settings on the same data, prints the losses and writes '
        'samples."""', "", "from __future__ import annotations", "",
        import_lines(imports | set(code.imports)), "", "# ---- the page's settings",
        *constants, "", code.code, "", "", body, ""])


def _bound(code: str) -> set[str]:
    """The top-level names a piece of script binds."""
    names = set()
    for node in ast.parse(code).body:
        if isinstance(node, ast.FunctionDef | ast.ClassDef):
            names.add(node.name)
        for sub in ast.walk(node) if isinstance(node, ast.Assign | ast.For | ast.With) else []:
            if isinstance(sub, ast.Name) and isinstance(sub.ctx, ast.Store):
                names.add(sub.id)
    return names
