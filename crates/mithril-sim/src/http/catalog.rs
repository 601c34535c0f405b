//! `/v2/projects` and `/v2/instance-types`.

use axum::Json;
use axum::extract::{Extension, State};

use crate::Sim;
use crate::wire::{InstanceTypeModel, ProjectModel};
use crate::world::Caller;

/// `GET /v2/projects`: the projects the key sees.
pub async fn projects(
    State(sim): State<Sim>,
    Extension(caller): Extension<Caller>,
) -> Json<Vec<ProjectModel>> {
    let world = sim.world();
    Json(
        world
            .projects_of(&caller)
            .map(|project| ProjectModel {
                fid: project.fid.clone(),
                name: project.name.clone(),
                created_at: project.created_at,
            })
            .collect(),
    )
}

/// `GET /v2/instance-types`.
pub async fn instance_types(State(sim): State<Sim>) -> Json<Vec<InstanceTypeModel>> {
    let world = sim.world();
    Json(
        world
            .instance_types()
            .iter()
            .map(|it| InstanceTypeModel {
                fid: it.fid.clone(),
                name: it.spec.name.clone(),
                num_cpus: it.spec.num_cpus,
                cpu_type: it.spec.cpu_type.clone(),
                ram_gb: it.spec.ram_gb,
                num_gpus: it.spec.num_gpus,
                gpu_type: it.spec.gpu_type.clone(),
                gpu_memory_gb: it.spec.gpu_memory_gb,
                gpu_socket: it.spec.gpu_socket.clone(),
                local_storage_gb: it.spec.local_storage_gb,
                network_type: it.spec.network_type.clone(),
                ib_count: it.spec.ib_count,
                bridge_count: it.spec.bridge_count,
                hourly_price: it.spec.hourly_price,
            })
            .collect(),
    )
}
